package feed_test

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

// Compile a model file, make its inputs for a batch of 2 sequences of 5
// tokens, and run it with mhcc's runtime.
func Example() {
	res, err := compile.Compile("../../testdata/models/tiny-mhc.yaml", compile.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	in := feed.New(mp.GetGraph(), 1)
	in.Bind("batch", 2, "example")
	in.Bind("sequence", 5, "example")
	inputs, err := in.GenerateAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for name, t := range inputs {
		fmt.Printf("%s %v %v: %s\n", name, t.DType, t.Shape, in.Sources[name])
	}
	m, err := mhrt.Decode(res.ONNX)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	out, err := m.Run(inputs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Println("logits", out["logits"].Shape)
	// Output:
	// input_ids int64 [2 5]: random ids in [0, 97) (rows of embed.weight), seed 1
	// logits [2 5 97]
}
