package meta

import (
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []Sublayer{
		{Name: "layers.0.attn", Kind: "attention", Layer: 0, Streams: 4, Iterations: 20, Lowering: "gemm",
			Pre: "layers.0.attn.pre", Post: "layers.0.attn.post", Comb: "layers.0.attn.comb", Output: "layers.0.attn.x"},
		{Name: "layers.0.ffn", Kind: "ffn", Layer: 0, Streams: 1, Output: "layers.0.ffn.residual"},
	}
	v := Encode(in)
	out, err := Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n%+v\n%+v", in, out)
	}
	if Encode(nil) != "[]" {
		t.Errorf("no sublayers: %q", Encode(nil))
	}
	for _, bad := range []string{
		``, `{}`, `[{"name":"a","kind":"ffn","layer":0,"streams":1,"sinkhorn_iterations":0}]`,
		`[{"name":"a","kind":"ffn","layer":0,"streams":1,"sinkhorn_iterations":0,"output":"x","extra":1}]`,
		`[{"name":"a","kind":"ffn","layer":-1,"streams":1,"sinkhorn_iterations":0,"output":"x"}]`,
		`[] []`,
	} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}
