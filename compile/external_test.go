package compile

import (
	"bytes"
	"testing"

	"github.com/mhcc-dev/mhcc/model"
	"google.golang.org/protobuf/proto"
)

// The automatic switch to external data: past 1.75 GiB of weights (float32,
// or float64 for the verification reference), never for small models.
func TestUsesExternal(t *testing.T) {
	load := func(path string) *model.Model {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tiny, p3 := load("../testdata/models/tiny-mhc.yaml"), load("../bench/models/paper-3b.yaml")
	for _, c := range []struct {
		m    *model.Model
		opts Options
		want bool
	}{
		{tiny, Options{}, false},
		{tiny, Options{External: ExternalAlways}, true},
		{p3, Options{}, true}, // 1.87 GiB
		{p3, Options{External: ExternalNever}, false},
		{p3, Options{Message: true}, false}, // a message in memory has no 2 GiB limit
		{tiny, Options{Message: true, External: ExternalAlways}, false},
	} {
		if got := c.opts.UsesExternal(c.m); got != c.want {
			t.Errorf("%s with %+v: UsesExternal = %v, want %v", c.m.Name, c.opts, got, c.want)
		}
	}
	// A large model compiles without generating its weights: only the
	// layout of the data file is made, and the data file would hold them all.
	res, err := Compile("../bench/models/paper-27b.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Layout == nil || res.Layout.Size() < model.WeightBytes(res.Model) || len(res.ONNX) > 4<<20 {
		t.Errorf("paper-27b: layout %v, model %d bytes; want a data file of at least %d bytes and a small model", res.Layout.Size(), len(res.ONNX), model.WeightBytes(res.Model))
	}
	if res.Layout.Location != "paper-27b.onnx.data" {
		t.Errorf("default data file name %q, want paper-27b.onnx.data", res.Layout.Location)
	}
}

// Options.Message gives the model as a message instead of bytes: the same
// model (it marshals to exactly Compile's bytes), with every weight inline
// even when the options ask for external data.
func TestCompileMessage(t *testing.T) {
	const path = "../testdata/models/tiny-mhc.yaml"
	bytesRes, err := Compile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgRes, err := Compile(path, Options{Message: true, External: ExternalAlways})
	if err != nil {
		t.Fatal(err)
	}
	if msgRes.Message == nil || msgRes.ONNX != nil || msgRes.Layout != nil {
		t.Fatalf("Message %v, %d bytes, layout %v: want only the message", msgRes.Message != nil, len(msgRes.ONNX), msgRes.Layout)
	}
	for _, init := range msgRes.Message.GetGraph().GetInitializer() {
		if len(init.GetExternalData()) > 0 {
			t.Errorf("initializer %s is external", init.GetName())
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msgRes.Message)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, bytesRes.ONNX) {
		t.Errorf("the message marshals to %d bytes that differ from Compile's %d", len(b), len(bytesRes.ONNX))
	}
}
