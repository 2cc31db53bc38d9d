// Command cos-data converts datasets into Caffe LMDBs of Datum records and
// computes mean files, like Caffe's convert_mnist_data, convert_cifar_data,
// convert_imageset and compute_image_mean tools.
//
//	cos-data mnist   -in DIR -out DIR            (or -images F -labels F -out DIR)
//	cos-data cifar10 -in DIR -out DIR
//	cos-data images  -root DIR -list FILE -out DIR [-resize_height H -resize_width W -gray -shuffle -seed N -encoded -encode_type png|jpg -check_size]
//	cos-data mean    -db DIR -out FILE
//	cos-data count   -db DIR
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: its flags are defined on fs, run does the work.
type command struct {
	summary string
	setup   func(fs *flag.FlagSet) func() error
}

var commands = map[string]command{
	"mnist":   {"convert MNIST IDX files (plain or .gz) into LMDB", mnistCmd},
	"cifar10": {"convert CIFAR-10 binary batches into train/test LMDBs", cifarCmd},
	"images":  {"convert a list of \"path label\" image lines into an LMDB (like convert_imageset)", imagesCmd},
	"mean":    {"compute the mean image of an LMDB as a binaryproto (like compute_image_mean)", meanCmd},
	"count":   {"print the number of records of an LMDB", countCmd},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors whose message is followed by the usage text.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A bug must still end in a message and exit code 1, not a trace.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "cos-data: internal error: %v\n", r)
			code = 1
		}
	}()
	logw, outw = stderr, stdout
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 1
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cos-data: unknown command %q\n", args[0])
		usage(stderr)
		return 1
	}
	fs := flag.NewFlagSet("cos-data "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	do := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cos-data %s: unexpected arguments %q\n", args[0], fs.Args())
		fs.Usage()
		return 1
	}
	if err := do(); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "cos-data %s: %s\n", args[0], strings.TrimSuffix(err.Error(), ": usage"))
			fs.Usage()
			return 1
		}
		fmt.Fprintf(stderr, "cos-data %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cos-data <command> [flags]   (cos-data <command> -h for its flags)")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}

// usageErr is a missing or inconsistent flag.
func usageErr(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errUsage)...)
}

// logw receives progress lines, outw a command's result.
var logw, outw io.Writer = os.Stderr, os.Stdout

func logf(format string, args ...any) {
	fmt.Fprintf(logw, format+"\n", args...)
}
