"""A multilayer perceptron (64-128-10, ReLU) on the scikit-learn digits with z-score
normalisation, trained with SGD + momentum; prints test accuracy and writes the curves."""
import sys

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, datasets, train_test_split
from fastdl.data.transforms import StandardScaler


def main(epochs=30, seed=0, verbose=1, plot=None):
    fastdl.manual_seed(seed)
    X, y = datasets.load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=seed)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True, seed=seed)
    hist = fastdl.train.fit(model, train, nn.CrossEntropyLoss(), opt, epochs=epochs,
                            val_data=(Xte, yte), verbose=verbose)
    acc = fastdl.train.evaluate(model, (Xte, yte))["accuracy"]
    print(f"MLP test accuracy: {acc:.4f}")
    if plot:
        hist.plot(plot)
    return acc


if __name__ == "__main__":
    main(plot=sys.argv[1] if len(sys.argv) > 1 else None)
