package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/inspect"
)

func inspectJSON(t *testing.T, path string) inspect.Report {
	t.Helper()
	code, out, errs := mhcc(t, "inspect", path, "--json")
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", path, code, errs)
	}
	var r inspect.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	return r
}

// Parameter counts, worked out by hand from the model files' dimensions.
func TestInspectParams(t *testing.T) {
	// tiny-mhc: vocab 97, C 32, 2 layers, 4 heads and 2 kv heads of 8,
	// ffn 64, n 4 (n²+2n = 24 coefficients from n·C = 128 inputs).
	const (
		embed = 97 * 32
		layer = 2*32 + 32*32 + 2*16*32 + 32*32 + 3*64*32
		hc    = 24*128 + 24 + 3
		head  = 4*128 + 4 + 1
	)
	r := inspectJSON(t, "../../testdata/models/tiny-mhc.yaml")
	if want := int64(2*embed + 32 + 2*(layer+2*hc) + head); r.Params.Total != want {
		t.Errorf("tiny-mhc: %d parameters, want %d", r.Params.Total, want)
	}
	if want := int64(2*2*hc + head); r.Params.MHC != want {
		t.Errorf("tiny-mhc: %d mHC parameters, want %d", r.Params.MHC, want)
	}
	if r.Params.Active != r.Params.Total {
		t.Errorf("tiny-mhc: %d active parameters, want all %d (no experts)", r.Params.Active, r.Params.Total)
	}
	// decoder-moe: tiny-mhc's attention and mHC, 3 layers; layer 0 dense
	// (ffn 64), layers 1 and 2 a router over 8 experts of width 16, top-2,
	// and one shared expert of width 16. A token uses 2 of the 8 experts.
	const (
		expert = 3 * 16 * 32
		moeFFN = 8*32 + 8*expert + expert
		attn   = 2*32 + 32*32 + 2*16*32 + 32*32
		moeAll = 2*embed + 32 + 3*(attn+2*hc) + 3*64*32 + 2*moeFFN + head
		unused = 2 * 6 * expert // per MoE layer, the 6 experts a token skips
	)
	r = inspectJSON(t, "../../testdata/golden/decoder-moe/model.yaml")
	if r.Params.Total != moeAll || r.Params.Active != moeAll-unused {
		t.Errorf("decoder-moe: %d parameters, %d active; want %d, %d", r.Params.Total, r.Params.Active, moeAll, moeAll-unused)
	}
	// paper-27b: 30 layers, C 2560, 32 heads of 128, ffn 1536, vocab 129280.
	r = inspectJSON(t, "../../bench/models/paper-27b.yaml")
	c, h, f, v := int64(2560), int64(32*128), int64(1536), int64(129280)
	perLayer := 2*c + 4*h*c + 3*c*f + 2*(24*4*c+24+3)
	if want := 2*v*c + c + 30*perLayer + 4*4*c + 4 + 1; r.Params.Total != want {
		t.Errorf("paper-27b: %d parameters, want %d", r.Params.Total, want)
	}
}

// The paper's formulas, and mhcc's measured traffic: on a plain residual
// model the measurement must give exactly the residual's 2C reads and C
// writes (one Add), which checks the measuring itself.
func TestInspectTraffic(t *testing.T) {
	r := inspectJSON(t, "../../testdata/models/tiny-mhc.yaml")
	if got := *r.Traffic.HCUnfused; got != (inspect.RW{Reads: 21*32 + 24, Writes: 13*32 + 24}) {
		t.Errorf("HC unfused for n=4, C=32: %+v, want reads 696, writes 440", got)
	}
	if len(r.Traffic.Targets) != len(compile.Targets) || len(r.Targets) != len(compile.Targets) {
		t.Fatalf("%d traffic rows and %d node rows, want one per target (%v)", len(r.Traffic.Targets), len(r.Targets), compile.Targets)
	}
	for i, x := range r.Traffic.Targets {
		if takesNoDecoder(x.Target, x.Error) {
			continue
		}
		if x.Error != "" || x.Reads <= 2*32 || x.Writes <= 32 {
			t.Errorf("target %s: traffic %+v; want more than a plain residual's", x.Target, x)
		}
		if n := r.Targets[i]; n.Error != "" || n.ONNXNodes < n.IRNodes || n.IRNodes == 0 {
			t.Errorf("target %s: %+v", n.Target, n)
		}
	}
	r = inspectJSON(t, "../../testdata/models/tiny-residual.yaml")
	c := int64(r.Hidden)
	if r.Traffic.HCUnfused != nil {
		t.Error("a residual model has an HC-unfused row")
	}
	for _, x := range r.Traffic.Targets {
		if takesNoDecoder(x.Target, x.Error) {
			continue
		}
		if x.RW != (inspect.RW{Reads: 2 * c, Writes: c}) {
			t.Errorf("tiny-residual, target %s: measured %+v, want reads %d, writes %d", x.Target, x, 2*c, c)
		}
	}
}

func TestInspectTable(t *testing.T) {
	code, out, errs := mhcc(t, "inspect", "../../testdata/models/mlp-mhc.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"parameters", "FLOPs per token", "plain residual (2C / C)", "HC unfused", "mhcc --target onnx", "ONNX nodes"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// takesNoDecoder reports the one expected refusal: the minimal target has no
// Gather, so it cannot take a decoder, and inspect says so in the row.
func takesNoDecoder(target, err string) bool {
	return target == "minimal" && strings.Contains(err, "does not allow")
}
