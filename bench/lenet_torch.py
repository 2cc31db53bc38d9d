#!/usr/bin/python3
"""PyTorch peer of cos's LeNet benchmark: Caffe's LeNet (examples/mnist
lenet_train_test.prototxt) at batch 64, Caffe's solver (SGD, momentum 0.9,
weight decay 5e-4, bias lr x2), timed per training iteration on synthetic
MNIST-shaped data (timing does not depend on the pixel values).

Run with Debian's python3 (/usr/bin/python3, python3-torch 1.13) and
OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=<core>, else OpenBLAS's own threads
fight torch's for the cores. Tries each thread count in --threads and prints
one parseable line per count plus the best:

  torch_lenet threads=2 batch=64 ms_per_iter=15.21 iters=200
  torch_lenet_best threads=2 batch=64 ms_per_iter=15.21
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x * 0.00390625), 2, 2)
        x = F.max_pool2d(self.conv2(x), 2, 2)
        x = F.relu(self.ip1(x.flatten(1)))
        return self.ip2(x)


def caffe_sgd(model, lr, momentum, decay):
    # Caffe: lr_mult 1 for weights, 2 for biases; decay_mult 1 for both.
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return torch.optim.SGD(
        [{"params": weights, "lr": lr}, {"params": biases, "lr": 2 * lr}],
        lr=lr, momentum=momentum, weight_decay=decay)


def time_training(model, opt, x, y, iters, repeats):
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(20):  # warm-up: allocator, oneDNN primitive caches
        step()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        best = min(best, (time.perf_counter() - t0) / iters)
    return best * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    torch.manual_seed(1)
    x = torch.rand(a.batch, 1, 28, 28) * 255
    y = torch.randint(0, 10, (a.batch,))
    results = []
    for t in [int(s) for s in a.threads.split(",")]:
        torch.set_num_threads(t)
        model = LeNet()
        opt = caffe_sgd(model, 0.01, 0.9, 5e-4)
        ms = time_training(model, opt, x, y, a.iters, a.repeats)
        results.append((ms, t))
        print(f"torch_lenet threads={t} batch={a.batch} ms_per_iter={ms:.3f} iters={a.iters}", flush=True)
    ms, t = min(results)
    print(f"torch_lenet_best threads={t} batch={a.batch} ms_per_iter={ms:.3f}")


if __name__ == "__main__":
    main()
