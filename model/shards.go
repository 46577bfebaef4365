package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
)

// A checkpoint is the tensors weights.path names: one safetensors file, or
// the shards a Hugging Face "*.safetensors.index.json" lists. Only the
// headers are read; the data stays in the files.
type checkpoint struct {
	path    string // weights.path
	sharded bool
	tensors []ckptTensor // by name
	byName  map[string]int
	// broken are the tensors the index lists in shards that failed (their
	// problem is reported): not reported again as missing.
	broken []string
}

// A ckptTensor is one tensor of a checkpoint and the file holding it.
type ckptTensor struct {
	Name  string
	Shard string // the safetensors file
	Info  safetensors.Info
}

// maxIndexBytes bounds an index file: a DeepSeek-V3 index (91,000
// tensors) is about 9 MB.
const maxIndexBytes = 256 << 20

// IsShardIndex reports whether path names a sharded checkpoint's index
// (a JSON file, "model.safetensors.index.json") rather than a safetensors
// file.
func IsShardIndex(path string) bool {
	return strings.HasSuffix(strings.ToLower(path), ".json")
}

// openCheckpoint reads the headers of the checkpoint at path. problems are
// the checkpoint's faults (a shard missing or corrupt, a tensor the index
// places in a shard that lacks it), each a sentence naming the file; the
// tensors found are returned with them.
func openCheckpoint(path string) (ck *checkpoint, problems []string) {
	ck = &checkpoint{path: path, byName: map[string]int{}}
	if !IsShardIndex(path) {
		f, err := safetensors.Open(path)
		if err != nil {
			return ck, []string{err.Error()}
		}
		defer f.Close()
		for _, info := range f.Tensors() {
			ck.add(ckptTensor{Name: info.Name, Shard: path, Info: info})
		}
		return ck, nil
	}
	ck.sharded = true
	data, err := inputfile.ReadFile(path, maxIndexBytes, "a safetensors index (JSON)")
	if err != nil {
		return ck, []string{err.Error()}
	}
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&index); err != nil {
		return ck, []string{fmt.Sprintf("%s: not a safetensors index (JSON with a \"weight_map\" object): %v", path, err)}
	}
	if index.WeightMap == nil {
		return ck, []string{fmt.Sprintf("%s: no \"weight_map\" object, want {\"weight_map\": {tensor name: shard file, ...}}", path)}
	}
	byShard := map[string][]string{}
	for name, shard := range index.WeightMap {
		byShard[shard] = append(byShard[shard], name)
	}
	dir := filepath.Dir(path)
	for _, shard := range slices.Sorted(maps.Keys(byShard)) {
		names := byShard[shard]
		sort.Strings(names)
		if shard == "" || filepath.IsAbs(shard) || strings.Contains(filepath.ToSlash(shard), "..") {
			problems = append(problems, fmt.Sprintf("the index names shard %q (for %d tensors, first %q); want a file name in the index's folder", shard, len(names), names[0]))
			ck.broken = append(ck.broken, names...)
			continue
		}
		file := filepath.Join(dir, shard)
		f, err := safetensors.Open(file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				problems = append(problems, fmt.Sprintf("the index names shard %s (for %d tensors, first %q), which does not exist", file, len(names), names[0]))
			} else {
				problems = append(problems, fmt.Sprintf("the index names shard %s (for %d tensors, first %q), which cannot be read: %v", file, len(names), names[0], err))
			}
			ck.broken = append(ck.broken, names...)
			continue
		}
		for _, name := range names {
			info, ok := f.Lookup(name)
			if !ok {
				problems = append(problems, fmt.Sprintf("the index places tensor %q in shard %s, which lacks it", name, file))
				ck.broken = append(ck.broken, name)
				continue
			}
			ck.add(ckptTensor{Name: name, Shard: file, Info: info})
		}
		f.Close()
	}
	sort.Slice(ck.tensors, func(i, j int) bool { return ck.tensors[i].Name < ck.tensors[j].Name })
	for i, t := range ck.tensors {
		ck.byName[t.Name] = i
	}
	return ck, problems
}

func (ck *checkpoint) add(t ckptTensor) {
	ck.byName[t.Name] = len(ck.tensors)
	ck.tensors = append(ck.tensors, t)
}

func (ck *checkpoint) lookup(name string) (ckptTensor, bool) {
	i, ok := ck.byName[name]
	if !ok {
		return ckptTensor{}, false
	}
	return ck.tensors[i], true
}
