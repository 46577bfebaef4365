package onnxtext

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// splitEqual checks that FormatSplit of data prints what Format of its
// full decoding does, in both modes.
func splitEqual(t *testing.T, name string, data []byte) {
	t.Helper()
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, ok := SplitModel(data)
	if !ok {
		t.Fatalf("%s: SplitModel refused a model that decodes", name)
	}
	if s.Nodes() != len(m.GetGraph().GetNode()) || len(s.Model.GetGraph().GetNode()) != 0 {
		t.Errorf("%s: split holds %d encoded nodes and %d decoded, want %d and 0", name, s.Nodes(), len(s.Model.GetGraph().GetNode()), len(m.GetGraph().GetNode()))
	}
	for _, opts := range []Options{{}, {Initializers: true}} {
		want, errW := Format(m, opts)
		got, errG := FormatSplit(s, opts, nil)
		if (errW == nil) != (errG == nil) || string(got) != string(want) {
			t.Errorf("%s %+v: FormatSplit differs from Format (errors %v, %v): %s", name, opts, errG, errW, firstDiff(string(got), string(want)))
		}
	}
}

// FormatSplit prints every model of the repository's testdata (model files
// compiled, torch exports as they are), Debian's ONNX test models and a
// model with unknown fields in its nodes, graph and header exactly as
// Format does.
func TestFormatSplitMatchesFormat(t *testing.T) {
	yamls, _ := filepath.Glob("../../testdata/models/*.yaml")
	onnxs, _ := filepath.Glob("../../testdata/foreign/*.onnx")
	if len(yamls) == 0 || len(onnxs) == 0 {
		t.Fatal("no testdata models")
	}
	for _, p := range yamls {
		res, err := compile.Compile(p, compile.Options{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		splitEqual(t, p, res.ONNX)
	}
	for _, p := range onnxs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		splitEqual(t, p, data)
	}
	paths, models := corpus(t)
	for i, m := range models {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		splitEqual(t, paths[i], data)
	}

	// Unknown fields: field 99 in a node, the graph and the model, and
	// the graph's fields interleaved with its nodes.
	unknown := func(b []byte) []byte {
		b = protowire.AppendTag(b, 99, protowire.VarintType)
		return protowire.AppendVarint(b, 1)
	}
	node := func(op, in, out string) []byte {
		b, _ := proto.Marshal(&onnxpb.NodeProto{OpType: proto.String(op), Input: []string{in}, Output: []string{out}})
		return b
	}
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	x, _ := proto.Marshal(&onnxpb.ValueInfoProto{Name: proto.String("x")})
	y, _ := proto.Marshal(&onnxpb.ValueInfoProto{Name: proto.String("y")})
	var g []byte
	g = field(g, graphNodeField, unknown(node("Relu", "x", "h")))
	g = field(g, 11, x) // input
	g = unknown(g)
	g = field(g, graphNodeField, node("Neg", "h", "y"))
	g = field(g, 12, y) // output
	var data []byte
	data = protowire.AppendTag(data, 1, protowire.VarintType) // ir_version
	data = protowire.AppendVarint(data, 8)
	data = field(data, modelGraphField, g)
	data = unknown(data)
	splitEqual(t, "hand-made", data)
	if text, _ := FormatSplit(mustSplit(t, data), Options{}, nil); !containsAll(string(text), "GraphProto.99", "ModelProto.99", "NodeProto.99") {
		t.Errorf("unknown fields not listed:\n%s", text)
	}

	// What SplitModel refuses (the caller decodes the whole model then).
	for name, bad := range map[string][]byte{
		"no graph":     data[:2],
		"two graphs":   field(field(nil, modelGraphField, g), modelGraphField, g),
		"truncated":    data[:len(data)-5],
		"bad graph":    field(nil, modelGraphField, []byte{0xff}),
		"not protobuf": []byte("format: 1\n"),
	} {
		if _, ok := SplitModel(bad); ok {
			t.Errorf("SplitModel accepted %s", name)
		}
	}
}

func mustSplit(t *testing.T, data []byte) *Split {
	t.Helper()
	s, ok := SplitModel(data)
	if !ok {
		t.Fatal("SplitModel refused")
	}
	return s
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// FormatSplit stops at a node that does not decode (ErrSplit) and at the
// check's error.
func TestFormatSplitErrors(t *testing.T) {
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	good, _ := proto.Marshal(&onnxpb.NodeProto{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}})
	bad := []byte{0x0a, 0x05, 'x'} // input: a string 5 bytes long with 1 byte
	model := func(nodes ...[]byte) []byte {
		var g []byte
		for _, n := range nodes {
			g = field(g, graphNodeField, n)
		}
		return field(nil, modelGraphField, g)
	}
	if _, err := FormatSplit(mustSplit(t, model(good, bad)), Options{}, nil); !errors.Is(err, ErrSplit) {
		t.Errorf("a node that does not decode: %v, want ErrSplit", err)
	}
	stop := errors.New("stop")
	calls := 0
	_, err := FormatSplit(mustSplit(t, model(good, good, good)), Options{}, func(n *onnxpb.NodeProto) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("check stopping at the second node: %v after %d calls", err, calls)
	}
}
