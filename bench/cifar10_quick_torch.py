#!/usr/bin/python3
"""PyTorch peer of cos's CIFAR-10 quick benchmark: Caffe's cifar10_quick
(testdata/cifar10_quick_train_test.prototxt) at batch 100, Caffe's solver
(SGD, momentum 0.9, weight decay 0.004, bias lr x2), timed per training
iteration on synthetic CIFAR-shaped data. Caffe rounds pooling output sizes
up, hence ceil_mode=True (32->16->8->4, ip1 input 64*4*4).

Run with /usr/bin/python3 and OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=<core>.
Prints one parseable line per thread count plus the best:

  torch_cifar10_quick threads=2 batch=100 ms_per_iter=40.1 iters=50
  torch_cifar10_quick_best threads=2 batch=100 ms_per_iter=40.1
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

from lenet_torch import caffe_sgd, time_training


class CifarQuick(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.ip1 = nn.Linear(64 * 4 * 4, 64)
        self.ip2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2, ceil_mode=True)
        return self.ip2(self.ip1(x.flatten(1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    torch.manual_seed(1)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    results = []
    for t in [int(s) for s in a.threads.split(",")]:
        torch.set_num_threads(t)
        model = CifarQuick()
        opt = caffe_sgd(model, 0.001, 0.9, 0.004)
        ms = time_training(model, opt, x, y, a.iters, a.repeats)
        results.append((ms, t))
        print(f"torch_cifar10_quick threads={t} batch={a.batch} ms_per_iter={ms:.3f} iters={a.iters}", flush=True)
    ms, t = min(results)
    print(f"torch_cifar10_quick_best threads={t} batch={a.batch} ms_per_iter={ms:.3f}")


if __name__ == "__main__":
    main()
