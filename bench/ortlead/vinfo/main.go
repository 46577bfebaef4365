// Command vinfo prints the value_info shapes of an ONNX model (one a line:
// name, element type, dims; a dim is its value, its symbol, or "?").
package main

import (
	"fmt"
	"os"
	"strings"

	pb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	g := m.GetGraph()
	for _, vi := range append(append(g.GetInput(), g.GetValueInfo()...), g.GetOutput()...) {
		t := vi.GetType().GetTensorType()
		var dims []string
		if t.GetShape() == nil {
			dims = []string{"(no shape)"}
		}
		for _, d := range t.GetShape().GetDim() {
			switch {
			case d.GetDimParam() != "":
				dims = append(dims, d.GetDimParam())
			case d.Value != nil && d.GetDimParam() == "" && d.GetDimValue() != 0 || d.GetDimValue() > 0:
				dims = append(dims, fmt.Sprint(d.GetDimValue()))
			default:
				dims = append(dims, "?")
			}
		}
		fmt.Printf("%s\t%d\t[%s]\n", vi.GetName(), t.GetElemType(), strings.Join(dims, ","))
	}
}
