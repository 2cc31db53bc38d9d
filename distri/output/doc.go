// Package output writes what a cos job leaves behind for its user: the
// per-sample feature rows of a -features job (JSON lines or Parquet part
// files plus a _SUCCESS marker, as CaffeOnSpark's Spark output looked), the
// -test summary, and the training curves (CSV and a PNG plot).
//
// Every file is written under a temporary name and renamed into place when
// complete, so a crash never leaves a half-written part under its final name.
package output
