"""Linear regression, the textbook example: X = 1..5, y = 2x, learning rate 0.01,
1 000 iterations of gradient descent on the mean squared error — twice:

1. gradients written by hand (dL/dw = mean(2 (w x + b - y) x), dL/db = mean(2 (w x + b - y))),
   computed with fastdl tensor ops;
2. the same model trained with autograd (loss.backward()) and optim.SGD.

Both print w ≈ 2 and b ≈ 0.
"""
import fastdl
from fastdl import nn, optim

X = fastdl.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
y = 2 * X
lr, iterations = 0.01, 1000


def by_hand(iterations=iterations, lr=lr):
    w = fastdl.tensor(0.0)
    b = fastdl.tensor(0.0)
    for _ in range(iterations):
        err = w * X + b - y                 # forward
        dw = (2 * err * X).mean()           # hand-written gradients
        db = (2 * err).mean()
        w = w - lr * dw                     # update
        b = b - lr * db
    loss = ((w * X + b - y) ** 2).mean()
    return w.item(), b.item(), loss.item()


def with_autograd(iterations=iterations, lr=lr):
    w = nn.Parameter(fastdl.zeros(()))
    b = nn.Parameter(fastdl.zeros(()))
    opt = optim.SGD([w, b], lr=lr)
    loss_fn = nn.MSELoss()
    for _ in range(iterations):
        opt.zero_grad()
        loss = loss_fn(w * X + b, y)        # forward + loss
        loss.backward()                     # backward: gradients by autograd
        opt.step()                          # update
    return w.item(), b.item(), loss.item()


if __name__ == "__main__":
    for name, fn in (("hand-written gradients", by_hand), ("autograd + optim.SGD", with_autograd)):
        w, b, loss = fn()
        print(f"{name:>24}: w = {w:.4f}, b = {b:.4f}, loss = {loss:.2e}")
