#!/usr/bin/python3
"""Run a Caffe model through OpenCV's dnn module, the interop check for cos.

usage: opencv_predict.py deploy.prototxt model.caffemodel images.f32 N C H W

images.f32 holds N*C*H*W little-endian float32 values (already scaled as the
net expects). Prints a JSON list of N output rows (the net's last blob).
"""
import json
import sys

import cv2
import numpy as np


def main():
    deploy, model, images = sys.argv[1:4]
    n, c, h, w = (int(v) for v in sys.argv[4:8])
    data = np.fromfile(images, dtype="<f4")
    if data.size != n * c * h * w:
        sys.exit("images.f32 holds %d floats, want %d" % (data.size, n * c * h * w))
    net = cv2.dnn.readNetFromCaffe(deploy, model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(data.reshape(n, c, h, w))
    out = net.forward()
    json.dump(out.reshape(n, -1).astype(float).tolist(), sys.stdout)


if __name__ == "__main__":
    main()
