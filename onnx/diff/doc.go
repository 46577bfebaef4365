// Package graphdiff compares two ONNX models the way a reviewer of an mHC
// model change wants: by what they compute, not by how their nodes and
// values happen to be named or ordered, and in mHC terms where mhcc's
// metadata and names allow it.
//
// # Levels
//
// Compare reports changes at three levels:
//
//   - model: mhcc's metadata_props (mhcc.hc.*, mhcc.layers, target,
//     lowering, precision, …) described in mHC terms ("sinkhorn iterations
//     20 → 10", "streams 4 → 2"), the ModelProto's descriptive fields, and
//     the sublayers layers.N.{attn,ffn,mlp} present with, per sublayer, its
//     Sinkhorn iterations, read from the mhcc.sublayers metadata (for a
//     graph without it, from node names: iterations = (Div nodes + 1) / 2
//     of its …comb/ projection, right for the reference and gemm
//     lowerings only), so a per-layer change reads "layers.7 ffn: sinkhorn
//     iterations 20 → 10".
//     These are all Metadata: their consequence for the graph is reported at
//     graph level with its own severity.
//   - interface: graph inputs and outputs added, removed, renamed (paired by
//     name, then by position), reordered, their element types and dims
//     (dim_value and dim_param), the IR version and the opset imports. All
//     Interface.
//   - graph: the computation, compared independently of names (below).
//     Inserted and deleted nodes and rewired inputs are Structure, changed
//     attributes and initializer values beyond tolerance are Attribute.
//     Subgraphs (If/Loop/Scan bodies) are compared recursively and
//     model-local functions are compared by domain and name.
//
// # How graphs are compared
//
// Every node gets a deep hash: its op type, domain, attributes and,
// recursively, the deep hashes of whatever feeds its inputs; graph inputs
// count by position (B's by the position of their counterpart in A) and
// initializers by content (data type, dims and elements, whatever field
// holds them), never by name. It also gets a downstream hash (its role for
// the nodes that consume it, up to the graph outputs), a local key (op,
// attributes and only the kinds of its inputs) and a weak key (op and
// arity). Renaming nodes or values therefore changes nothing, and neither
// does reordering the node list: nodes are put in a canonical order, a
// depth-first post-order from the graph outputs that visits inputs in order
// and initializer-only subtrees just before their consumer.
//
// The two canonical sequences are then aligned by a weighted longest common
// subsequence (see align.go) in O(n·m) time, with linear memory beyond 4M
// cells. An inserted layer therefore shows up as one run of inserted nodes,
// not as a flood of changes after it. Runs are reported as one change
// ("inserted 169 nodes after layers.2.mlp.x (layers.3.*)"), with the nodes
// listed in Change.Nodes, and the matched nodes whose inputs were rewired
// to or from the run in Change.Consumers. Other rewired inputs are reported
// one by one (input_changed, output_changed). For aligned node pairs,
// differing attributes are reported per attribute (identical attribute
// changes on several nodes are reported once, with Count and Nodes).
// Initializers feeding aligned inputs are compared by content hash (for
// external data, once ResolveExternal has read the files; else by its
// encoding, location entries included), then by dtype and shape (Structure), then
// element-wise with |a-b| ≤ ATol + RTol·|b| (Attribute, with the largest
// difference).
// Tensor attributes (Constant values) get the same tolerance.
//
// # Memory
//
// The comparison reads each main graph's nodes from a table of flat arrays
// (about 60 bytes a node, the strings shared with the message) rather than
// from its NodeProtos (over 200 bytes each). Compare builds the tables and
// leaves the models as they are; a caller that loads large models one
// after the other calls Prepare on each before reading the next (it drops
// the model's node list) and CompareModels on the results, so that two
// decoded node lists are never held at once: mhcc diff of two 10^6-node
// chains peaks near 600 MB instead of 1.3 GB (bench/memory.md).
//
// # JSON
//
// WriteJSON writes one object, schema "mhcc.diff/v1":
//
//	{
//	  "schema": "mhcc.diff/v1",
//	  "a": "old.onnx",              // labels set by the caller ("" if not)
//	  "b": "new.onnx",
//	  "equal": false,               // no changes at all
//	  "max": "structure",           // highest severity; absent when equal
//	  "stats": {                    // nodes of the main graphs
//	    "nodes_a": 781, "nodes_b": 541,
//	    "matched": 541, "inserted": 0, "deleted": 240, "changed": 5
//	  },
//	  "changes": [                  // always an array; model, interface, graph order
//	    {
//	      "level": "model",         // "model" | "interface" | "graph"
//	      "severity": "metadata",   // "metadata" | "attribute" | "structure" | "interface"
//	      "kind": "sinkhorn_iterations",
//	      "path": "layers.0.attn.comb",
//	      "message": "layers.0 attn: sinkhorn iterations 20 → 10",
//	      "before": "20",           // optional
//	      "after": "10",            // optional
//	      "count": 60,              // optional: nodes a grouped change covers
//	      "nodes": ["…"],           // optional: their names
//	      "consumers": ["…"]        // optional: nodes rewired to/from the group
//	    }
//	  ]
//	}
//
// Kinds by level:
//
//   - model: a kind per mhcc metadata key (producer, target, lowering,
//     precision, model_name, architecture, layers, hc_kind, streams,
//     dynamic, sinkhorn_iterations, sinkhorn_eps, rms_eps, collapse,
//     weights), "metadata" for any other key or ModelProto field, and from
//     names: sinkhorn_iterations (per sublayer), sinkhorn (projection
//     appeared or vanished), sublayer_added, sublayer_removed.
//   - interface: ir_version, opset, input_added, input_removed,
//     input_renamed, input_order, output_… likewise, dtype, rank, dim,
//     shape, type.
//   - graph: node_inserted, node_deleted, op_changed, attribute,
//     input_changed, output_changed, initializer_value, initializer_shape,
//     initializer_dtype, function (added, removed, signature), opset (of a
//     function), signature (of a subgraph).
//
// Paths: "graph/<node>" for nodes of the main graph, "graph/<node>/<attr>/…"
// inside subgraphs, "function <domain>.<name>/<node>" inside functions,
// "initializer <name>", "input <name>", "output <name>",
// "metadata <key>", "opset <domain>", "model".
//
// Readers must ignore unknown fields; new kinds may appear within v1. A
// change to the meaning or type of an existing field gets a new schema
// name.
//
// # Not compared
//
// Node names, value names, doc strings of nodes and graphs, value_info
// (intermediate shape annotations), initializers nothing aligned consumes,
// and sparse initializers beyond what consumes them.
package graphdiff
