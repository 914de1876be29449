"""Softmax regression (multinomial logistic regression) on the scikit-learn digits
(8x8 images, 10 classes) with z-score normalisation: one Linear layer + cross-entropy."""
import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, datasets, train_test_split
from fastdl.data.transforms import StandardScaler


def main(epochs=30, seed=0, verbose=1):
    fastdl.manual_seed(seed)
    X, y = datasets.load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=seed)
    scaler = StandardScaler().fit(Xtr)              # fit on the training split only
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    model = nn.Linear(64, 10)                       # logits; softmax lives in the loss
    opt = optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=64, shuffle=True, seed=seed)
    fastdl.train.fit(model, train, nn.CrossEntropyLoss(), opt, epochs=epochs, verbose=verbose)
    acc = fastdl.train.evaluate(model, (Xte, yte))["accuracy"]
    print(f"softmax regression test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
