# The source article's Keras program, line for line; only the import lines differ from its
# `from tensorflow.keras... import ...` lines (and `import tensorflow as tf` is gone).
# tests/test_article_program.py runs it; benchmarks/bench_training.py times it as a process.
import numpy as np
from mlmath.models import Sequential
from mlmath.layers import Dense, Activation
from mlmath.optim import Adam
from mlmath.losses import MeanSquaredError
from mlmath.data import to_categorical

num_samples = 1000
num_features = 20
num_classes = 3

X = np.random.rand(num_samples, num_features)
Y = to_categorical(np.random.randint(num_classes, size=num_samples), num_classes)

model = Sequential()
model.add(Dense(64, input_dim=num_features))
model.add(Activation('relu'))
model.add(Dense(64))
model.add(Activation('relu'))
model.add(Dense(num_classes))
model.add(Activation('softmax'))

model.compile(optimizer=Adam(learning_rate=0.001),
              loss=MeanSquaredError(),
              metrics=['accuracy'])

model.fit(X, Y, epochs=50, batch_size=32, validation_split=0.2)

loss, accuracy = model.evaluate(X, Y)
print(f'Loss: {loss}, Accuracy: {accuracy}')

predictions = model.predict(X[:5])
print(f'Predictions: {predictions}')
