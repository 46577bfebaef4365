package graphdiff

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func sampleReport(t *testing.T) *Report {
	a := small()
	b := clone(a)
	findNode(t, b.Graph, "sm").Attribute[0].I = proto.Int64(1)
	findNode(t, b.Graph, "relu").OpType = proto.String("Sigmoid")
	b.Graph.Input[0].Type.GetTensorType().Shape.Dim[0].Value = nil
	r := mustCompare(t, a, b, Options{})
	r.A, r.B = "old.onnx", "new.onnx"
	r.Changes = append(r.Changes, Change{Level: LevelModel, Severity: Metadata, Kind: "metadata", Path: "metadata k",
		Message: "odd | message: 100% <b>\nsecond line, with comma", Before: "x", After: "y"})
	return r
}

func TestWriteText(t *testing.T) {
	r := sampleReport(t)
	var plain, color bytes.Buffer
	if err := r.WriteText(&plain, false); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteText(&color, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b") {
		t.Error("escape codes without colour")
	}
	if !strings.Contains(color.String(), "\x1b[") {
		t.Error("no escape codes with colour")
	}
	s := plain.String()
	for _, want := range []string{"mhcc diff old.onnx → new.onnx: 4 changes, max severity interface", "\nmodel (1)\n", "\ninterface (1)\n", "\ngraph (2)\n", "  attribute  sm: Softmax axis -1 → 1\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("text lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "model (") > strings.Index(s, "interface (") || strings.Index(s, "interface (") > strings.Index(s, "graph (") {
		t.Error("levels out of order")
	}
	var eq bytes.Buffer
	mustCompare(t, small(), small(), Options{}).WriteText(&eq, false)
	if !strings.Contains(eq.String(), "no differences") {
		t.Error(eq.String())
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema"] != "mhcc.diff/v1" || doc["max"] != "interface" || doc["equal"] != false || doc["a"] != "old.onnx" {
		t.Errorf("doc %v", doc)
	}
	changes := doc["changes"].([]any)
	first := changes[0].(map[string]any)
	for _, k := range []string{"level", "severity", "kind", "path", "message"} {
		if _, ok := first[k]; !ok {
			t.Errorf("change lacks %q: %v", k, first)
		}
	}
	stats := doc["stats"].(map[string]any)
	if stats["nodes_a"] != float64(6) {
		t.Errorf("stats %v", stats)
	}
	// Round trip into a Report.
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Changes) != len(r.Changes) || back.Changes[0].Severity != r.Changes[0].Severity || back.Stats != r.Stats {
		t.Errorf("round trip: %+v", back)
	}

	// Equal: changes is [], max is absent.
	buf.Reset()
	mustCompare(t, small(), small(), Options{}).WriteJSON(&buf)
	doc = nil
	json.Unmarshal(buf.Bytes(), &doc)
	if doc["equal"] != true || doc["max"] != nil || doc["changes"] == nil || len(doc["changes"].([]any)) != 0 {
		t.Errorf("equal doc: %s", buf.String())
	}
}

func TestWriteMarkdown(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.Contains(s, "max severity **interface**") || !strings.Contains(s, "| severity | kind | where | change |\n|---|---|---|---|\n") {
		t.Errorf("markdown:\n%s", s)
	}
	if strings.Count(s, "| severity |") != 3 {
		t.Errorf("want a table per level:\n%s", s)
	}
	found := false
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "| metadata | `metadata`") {
			found = true
			// the pipe and the newline in the message must not break the row
			if strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 5 || strings.Contains(line, "<b>") {
				t.Errorf("unescaped row: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no metadata row:\n%s", s)
	}
}

func TestWriteGitHub(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteGitHub(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(r.Changes) {
		t.Fatalf("%d lines for %d changes:\n%s", len(lines), len(r.Changes), buf.String())
	}
	cmds := map[string]int{}
	for _, l := range lines {
		if !strings.HasPrefix(l, "::") {
			t.Errorf("line %q", l)
		}
		cmds[strings.SplitN(l[2:], " ", 2)[0]]++
		if strings.Contains(l, "odd") {
			if !strings.Contains(l, "100%25") || !strings.Contains(l, "%0Asecond line") || strings.Contains(l, "\n") {
				t.Errorf("message not escaped: %q", l)
			}
		}
		title := strings.SplitN(strings.SplitN(l, "title=", 2)[1], "::", 2)[0]
		if strings.ContainsAny(title, ":,\n") {
			t.Errorf("title not escaped: %q", title)
		}
	}
	// interface (dim) and structure (op_changed) are errors, the attribute a warning, metadata a notice
	if cmds["error"] != 2 || cmds["warning"] != 1 || cmds["notice"] != 1 {
		t.Errorf("commands %v:\n%s", cmds, buf.String())
	}
}
