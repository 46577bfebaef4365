package onnxtext

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// unknownFields lists, sorted, the fields in m and its sub-messages that
// mhcc's schema does not know (kept by the decoder as unknown bytes), as
// Message.number, e.g. "ModelProto.20" or "NodeProto.8".
func unknownFields(m proto.Message) []string {
	seen := map[string]bool{}
	addUnknown(seen, m)
	return sortedSet(seen)
}

// addUnknown adds to seen the unknown fields of m and its sub-messages.
func addUnknown(seen map[string]bool, m proto.Message) {
	var walk func(protoreflect.Message)
	walk = func(msg protoreflect.Message) {
		b := msg.GetUnknown()
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				break
			}
			m := protowire.ConsumeFieldValue(num, typ, b[n:])
			if m < 0 {
				break
			}
			b = b[n+m:]
			d := msg.Descriptor()
			name := strings.TrimPrefix(string(d.FullName()), string(d.ParentFile().Package())+".")
			seen[fmt.Sprintf("%s.%d", name, num)] = true
		}
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Message() == nil {
				return true
			}
			if fd.IsList() {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			} else if !fd.IsMap() {
				walk(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
}

func sortedSet(seen map[string]bool) []string {
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
