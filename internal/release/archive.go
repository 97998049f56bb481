package main

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"time"
)

// file is one archive member: its name inside the archive's directory, the
// file it is read from, and the mode it is given (not the one on disk, so
// that a umask or a checkout's modes do not change the archive).
type file struct {
	name string
	path string
	mode fs.FileMode
}

// writeTarGz writes a gzipped tar with every member under dir/. Owners,
// modes and times are fixed and the gzip header carries no name or time:
// the bytes depend only on the files' contents and date.
func writeTarGz(w io.Writer, dir string, files []file, date time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	date = date.UTC().Truncate(time.Second)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: date, Format: tar.FormatUSTAR,
	}); err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: dir + "/" + f.name, Mode: int64(f.mode.Perm()),
			Size: int64(len(data)), ModTime: date, Format: tar.FormatUSTAR,
		}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip is writeTarGz's counterpart for Windows, whose users expect a
// zip. The Unix modes are recorded too, for those who unpack it elsewhere.
func writeZip(w io.Writer, dir string, files []file, date time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	date = date.UTC().Truncate(time.Second)
	hdr := &zip.FileHeader{Name: dir + "/", Method: zip.Store, Modified: date}
	hdr.SetMode(fs.ModeDir | 0o755)
	if _, err := zw.CreateHeader(hdr); err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: dir + "/" + f.name, Method: zip.Deflate, Modified: date}
		hdr.SetMode(f.mode.Perm())
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
