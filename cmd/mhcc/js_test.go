package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// generatedRowsRE matches the ids lines of mhcc generate, one row or a batch.
var generatedRowsRE = regexp.MustCompile(`(?m)^generated(?:\[\d+\])?: \d+ tokens \[([\d ]*)\]$`)

// generatedRows runs mhcc generate and returns each row's new ids.
func generatedRows(t *testing.T, args ...string) [][]int64 {
	t.Helper()
	code, stdout, stderr := mhcc(t, append([]string{"generate"}, args...)...)
	if code != 0 {
		t.Fatalf("mhcc generate %v: exit %d: %s", args, code, stderr)
	}
	var rows [][]int64
	for _, m := range generatedRowsRE.FindAllStringSubmatch(stdout, -1) {
		var row []int64
		for _, f := range strings.Fields(m[1]) {
			v, _ := strconv.ParseInt(f, 10, 64)
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows
}

// jsClients returns node and the interop/js folder with transformers.js and
// onnxruntime-web installed, or skips (fails under CI=true).
func jsClients(t *testing.T) (node, dir string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		testenv.NeedPath(t, "/usr/bin/node", "node (Node.js, for transformers.js and onnxruntime-web)")
		node = "/usr/bin/node"
	}
	dir = filepath.Join(root, "interop", "js")
	testenv.NeedPath(t, filepath.Join(dir, "node_modules", "@huggingface", "transformers"), "transformers.js (scripts/install-deps runs npm ci in interop/js)")
	testenv.NeedPath(t, filepath.Join(dir, "node_modules", "onnxruntime-web"), "onnxruntime-web (scripts/install-deps runs npm ci in interop/js)")
	return node, dir
}

// runJS runs interop/js/generate.mjs with engine (transformers or web) on a
// package; it returns the rows, or the error the client reported.
func runJS(t *testing.T, node, jsDir, engine, pkg string, prompts [][]int64, maxNew int) ([][]int64, error) {
	t.Helper()
	cmd := exec.Command(node, "generate.mjs", engine, pkg, "--prompts", joinPrompts(prompts, ":"), "--max-new-tokens", strconv.Itoa(maxNew))
	cmd.Dir = jsDir
	out, err := cmd.Output()
	var res struct {
		IDs   [][]int64 `json:"ids"`
		Error string    `json:"error"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("node generate.mjs %s %s: %v (output %q, json: %v)", engine, pkg, err, out, jerr)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("%s", res.Error)
	}
	if err != nil {
		t.Fatalf("node generate.mjs %s: %v", engine, err)
	}
	return res.IDs, nil
}

// joinPrompts writes prompts as "1,2,3<sep>4,5".
func joinPrompts(prompts [][]int64, sep string) string {
	var parts []string
	for _, p := range prompts {
		var ids []string
		for _, id := range p {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		parts = append(parts, strings.Join(ids, ","))
	}
	return strings.Join(parts, sep)
}

// torchGreedy runs the PyTorch reference's greedy loop (float64), each
// prompt alone.
func torchGreedy(t *testing.T, python, model string, prompts [][]int64, maxNew, eos int) [][]int64 {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(root, "scripts", "reference", "kv_reference.py"), "greedy", model,
		"--prompts", joinPrompts(prompts, ":"), "--max-new-tokens", strconv.Itoa(maxNew)}
	if eos >= 0 {
		args = append(args, "--eos", strconv.Itoa(eos))
	}
	cmd := exec.Command(python, args...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kv_reference.py greedy: %v\n%s", err, out)
	}
	var rows [][]int64
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("kv_reference.py greedy: %v in %q", err, out)
	}
	return rows
}

// goldenCopy writes a copy of the golden decoder-mhc-dynamic model file
// (safetensors weights, so the PyTorch reference has them) into dir with
// its weights path made absolute and extra appended.
func goldenCopy(t *testing.T, dir, name, maxSeq, extra string) string {
	t.Helper()
	src, err := filepath.Abs("../../testdata/golden/decoder-mhc-dynamic/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "path: weights.safetensors", "path: "+filepath.Join(filepath.Dir(src), "weights.safetensors"), 1)
	if maxSeq != "" {
		s = strings.Replace(s, "max_sequence: 64", "max_sequence: "+maxSeq, 1)
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(s+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPackagesInNode is the proof that mhcc export writes packages the
// JavaScript generation clients run as is: for targets onnx (reference
// attention) and ort (GroupQueryAttention), fp32 and fp16, transformers.js
// 4.3.1 (AutoModelForCausalLM.from_pretrained + generate, greedy, on
// onnxruntime-node 1.30) and onnxruntime-web 1.30 (WASM execution provider,
// in node) give, at batch 1 and for a left-padded batch of three prompts of
// different lengths, the ids of mhcc generate (Go runtime, the same batch)
// and of the PyTorch reference's greedy loop (float64, each prompt alone).
// With an eos id in the model file every client stops each row after it;
// past max_sequence every client fails with a message naming it, and mhcc
// generate refuses before it starts.
func TestPackagesInNode(t *testing.T) {
	node, jsDir := jsClients(t)
	python := testenv.NeedPython(t, "torch")
	dir := t.TempDir()
	model := goldenCopy(t, dir, "dyn", "", "")
	const maxNew = 8
	single := [][]int64{{5, 6, 7, 8, 9, 10}}
	batch := [][]int64{{1, 2, 3}, {5, 6, 7, 8, 9, 10}, {11}}
	want := torchGreedy(t, python, model, batch, maxNew, -1)
	t.Logf("torch greedy: %v", want)

	check := func(what string, got, want [][]int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want (PyTorch reference) %v", what, got, want)
		}
	}
	for _, tg := range []string{"onnx", "ort"} {
		for _, prec := range []string{"fp32", "fp16"} {
			name := tg + "-" + prec
			pkg := filepath.Join(dir, name)
			if code, _, stderr := mhcc(t, "export", model, "-o", pkg, "--target", tg, "--precision", prec, "-q"); code != 0 {
				t.Fatalf("%s: mhcc export: exit %d: %s", name, code, stderr)
			}
			for _, in := range []struct {
				label   string
				prompts [][]int64
				want    [][]int64
			}{{"batch 1", single, want[1:2]}, {"padded batch of 3", batch, want}} {
				var args []string
				for _, p := range in.prompts {
					args = append(args, "--prompt-ids", joinPrompts([][]int64{p}, ""))
				}
				check(name+", mhcc generate (model file), "+in.label, generatedRows(t, append([]string{model, "--target", tg, "--precision", prec, "--max-new-tokens", strconv.Itoa(maxNew)}, args...)...), in.want)
				check(name+", mhcc generate (package), "+in.label, generatedRows(t, append([]string{pkg, "--max-new-tokens", strconv.Itoa(maxNew)}, args...)...), in.want)
				for _, engine := range []string{"transformers", "web"} {
					got, err := runJS(t, node, jsDir, engine, pkg, in.prompts, maxNew)
					if err != nil {
						t.Errorf("%s, %s, %s: %v", name, engine, in.label, err)
						continue
					}
					check(fmt.Sprintf("%s, %s, %s", name, engine, in.label), got, in.want)
				}
			}
		}
	}

	// eos: the id the middle prompt generates fourth; every row stops after
	// its first eos (rows that never produce it run to max_new_tokens).
	eos := int(want[1][3])
	eosModel := goldenCopy(t, dir, "eos", "", fmt.Sprintf("generation:\n  eos_token_id: %d\n", eos))
	wantEOS := torchGreedy(t, python, eosModel, batch, maxNew, eos)
	if len(wantEOS[1]) != 4 {
		t.Fatalf("torch with eos %d: %v, want the middle row cut at 4 ids", eos, wantEOS)
	}
	for _, tg := range []string{"onnx", "ort"} {
		pkg := filepath.Join(dir, "eos-"+tg)
		if code, _, stderr := mhcc(t, "export", eosModel, "-o", pkg, "--target", tg, "-q"); code != 0 {
			t.Fatalf("export: %s", stderr)
		}
		check("eos, "+tg+", mhcc generate", generatedRows(t, pkg, "--prompt-ids", "1,2,3", "--prompt-ids", "5,6,7,8,9,10", "--prompt-ids", "11", "--max-new-tokens", strconv.Itoa(maxNew)), wantEOS)
		for _, engine := range []string{"transformers", "web"} {
			got, err := runJS(t, node, jsDir, engine, pkg, batch, maxNew)
			if err != nil {
				t.Errorf("eos, %s, %s: %v", tg, engine, err)
				continue
			}
			check("eos, "+tg+", "+engine, got, wantEOS)
			// Alone, the middle prompt's row is transformers.js's own
			// output, not cut by generate.mjs: its eos stop is checked.
			got, err = runJS(t, node, jsDir, engine, pkg, single, maxNew)
			if err != nil {
				t.Errorf("eos, %s, %s, batch 1: %v", tg, engine, err)
				continue
			}
			check("eos, "+tg+", "+engine+", batch 1", got, wantEOS[1:2])
		}
	}

	// max_sequence 12: a prompt of 6 and 10 new tokens need 16 positions.
	short := goldenCopy(t, dir, "short", "12", "")
	for _, tg := range []string{"onnx", "ort"} {
		pkg := filepath.Join(dir, "short-"+tg)
		if code, _, stderr := mhcc(t, "export", short, "-o", pkg, "--target", tg, "-q"); code != 0 {
			t.Fatalf("export: %s", stderr)
		}
		code, _, stderr := mhcc(t, "generate", pkg, "--prompt-ids", "5,6,7,8,9,10", "--max-new-tokens", "10")
		if code != 1 || !strings.Contains(stderr, "inputs.max_sequence") {
			t.Errorf("max_sequence, %s, mhcc generate: exit %d, %q; want 1 and a message naming inputs.max_sequence", tg, code, stderr)
		}
		for _, engine := range []string{"transformers", "web"} {
			_, err := runJS(t, node, jsDir, engine, pkg, single, 10)
			if err == nil || !strings.Contains(err.Error(), "max_sequence") {
				t.Errorf("max_sequence, %s, %s: got %v, want an error naming max_sequence", tg, engine, err)
			} else {
				t.Logf("max_sequence, %s, %s: %v", tg, engine, err)
			}
		}
	}
}
