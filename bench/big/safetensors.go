package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// writeBF16Model writes the random weights of the model file at path as a
// BF16 safetensors file in dir, streamed tensor by tensor (the file can be
// larger than memory), and a copy of the model file reading it. It returns
// the new model file's path and the safetensors file's size.
func writeBF16Model(path, dir string) (string, int64, error) {
	m, err := model.Load(path)
	if err != nil {
		return "", 0, err
	}
	w, err := model.StreamWeights(m, 0)
	if err != nil {
		return "", 0, err
	}
	stPath := filepath.Join(dir, m.Name+".bf16.safetensors")
	size, err := writeBF16File(stPath, model.WeightSpecs(m), w, func(name string) string { return name })
	if err != nil {
		return "", 0, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	text := strings.Replace(string(src), "weights: {source: random, seed: 1}", "weights: {source: safetensors, path: "+filepath.Base(stPath)+"}", 1)
	if text == string(src) {
		return "", 0, fmt.Errorf("%s: no \"weights: {source: random, seed: 1}\" line to replace", path)
	}
	text = strings.Replace(text, "name: "+m.Name, "name: "+m.Name+"-bf16", 1)
	out := filepath.Join(dir, m.Name+"-bf16.yaml")
	return out, size, os.WriteFile(out, []byte(text), 0o644)
}

// writeBF16File writes the tensors specs of w, in that order, as one BF16
// safetensors file at path, each under the name stored(spec name), streamed
// chunk by chunk; it returns the file's size.
func writeBF16File(path string, specs []model.WeightSpec, w model.Weights, stored func(string) string) (int64, error) {
	var hdr strings.Builder
	hdr.WriteString("{")
	off := int64(0)
	for i, s := range specs {
		n := int64(2)
		for _, d := range s.Shape {
			n *= d
		}
		if i > 0 {
			hdr.WriteString(",")
		}
		shape := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(s.Shape)), ","), "[]")
		fmt.Fprintf(&hdr, "%q:{\"dtype\":\"BF16\",\"shape\":[%s],\"data_offsets\":[%d,%d]}", stored(s.Name), shape, off, off+n)
		off += n
	}
	hdr.WriteString("}")
	for hdr.Len()%8 != 0 {
		hdr.WriteString(" ")
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	binary.Write(bw, binary.LittleEndian, uint64(hdr.Len()))
	bw.WriteString(hdr.String())
	buf := make([]byte, 2*ir.ChunkElems)
	for _, s := range specs {
		err := w[s.Name].Stream(func(c []float32) error {
			for i, x := range c {
				binary.LittleEndian.PutUint16(buf[2*i:], half.Float32ToBFloat16(x))
			}
			_, err := bw.Write(buf[:2*len(c)])
			return err
		})
		if err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return int64(8+hdr.Len()) + off, nil
}
