package safetensors

import "fmt"

// ReadRawAt fills dst with the tensor's stored bytes from byte offset off of
// the tensor (little-endian as stored). It reads len(dst) bytes, all inside
// the tensor, so a caller can read a large tensor piece by piece: a row range
// of a fused tensor, or chunks of an FP8 one.
func (f *File) ReadRawAt(name string, off int64, dst []byte) error {
	t, err := f.info(name)
	if err != nil {
		return err
	}
	if off < 0 || off > t.ByteSize() || int64(len(dst)) > t.ByteSize()-off {
		return f.errorf(name, "byte range [%d, %d) is outside the tensor's %d bytes", off, off+int64(len(dst)), t.ByteSize())
	}
	at := f.dataStart + t.Begin + off
	if err := f.readFull(dst, at); err != nil {
		return &Error{Path: f.path, Tensor: name, Msg: fmt.Sprintf("reading %d bytes at file offset %d", len(dst), at), Err: err}
	}
	return nil
}
