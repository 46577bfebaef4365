package runtime

import "github.com/mhcc-dev/mhcc/export/onnxpb"

func decodeFunctions(mp *onnxpb.ModelProto, errs *errorList) map[opKey]*onnxpb.FunctionProto {
	return nil
}

func (d *decoder) callFunction(n *Node, np *onnxpb.NodeProto, f *onnxpb.FunctionProto) error {
	return nil
}
