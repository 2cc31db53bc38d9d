package layers

// unsupported names Caffe (and CaffeOnSpark) layer types that cos knows of
// but does not implement, with what a user can do instead. A prototxt using
// one gets this hint rather than a bare "unknown layer type" (which reads
// as a typo), so the user learns what to change.
var unsupported = map[string]string{
	"ImageData":               "it reads images listed in a text file; convert the list into an LMDB with `cos-data images` (like Caffe's convert_imageset) and use a Data layer",
	"HDF5Data":                "HDF5 input is not supported; convert the data into an LMDB of Datum records and use a Data layer",
	"HDF5Output":              "HDF5 output is not supported; use cos-train -features to write blobs as JSON lines",
	"WindowData":              "R-CNN window input is not supported",
	"Python":                  "Python layers need Caffe's embedded Python interpreter, which cos does not have",
	"CoSData":                 "CaffeOnSpark's DataFrame input is not supported; convert the data into an LMDB and use a Data layer, or MemoryData with source_class \"com.yahoo.ml.caffe.LMDB\"",
	"LSTM":                    "recurrent layers are not supported",
	"RNN":                     "recurrent layers are not supported",
	"Recurrent":               "recurrent layers are not supported",
	"SPP":                     "spatial pyramid pooling is not supported",
	"Filter":                  "Filter is not supported",
	"BatchReindex":            "BatchReindex is not supported",
	"Parameter":               "Parameter is not supported",
	"Im2col":                  "Im2col is not supported",
	"Swish":                   "Swish is not supported",
	"Clip":                    "Clip is not supported",
	"InfogainLoss":            "InfogainLoss is not supported",
	"HingeLoss":               "HingeLoss is not supported",
	"MultinomialLogisticLoss": "MultinomialLogisticLoss is not supported; use SoftmaxWithLoss on the scores instead of Softmax + MultinomialLogisticLoss",
}
