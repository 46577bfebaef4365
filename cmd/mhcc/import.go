package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/model"
)

// maxConfigBytes bounds a config.json (real ones are a few KB).
const maxConfigBytes = 16 << 20

func newImportCmd() *cobra.Command {
	var out, name, weights, hc string
	cmd := &cobra.Command{
		Use:   "import config.json [-o model.yaml]",
		Short: "Write a model file from a Hugging Face config.json",
		Long: `Import writes a model file (docs/spec.md §5) for the model a Hugging Face
config.json describes: model_type ` + strings.Join(model.HFModelTypes, ", ") + `.
hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
head_dim, intermediate_size, rms_norm_eps (layer_norm_epsilon), rope_theta,
vocab_size, max_position_embeddings, tie_word_embeddings, hidden_act,
attention_bias, mlp_bias, the DeepSeek MoE keys (n_routed_experts,
num_experts_per_tok, n_shared_experts, moe_intermediate_size, scoring_func,
norm_topk_prob, routed_scaling_factor, first_k_dense_replace) and the mHC
keys (hc_mult, hc_sinkhorn_iters, hc_eps) become model-file keys; weights
get the names preset of the family (hf-llama, hf-gpt2, deepseek-v4).

Every other key is listed, in the file's first comment and on stderr: keys
with no effect on inference, keys of features mhcc does not have, and keys
it does not know. Without hc_mult the hyper_connections section holds
mhcc's defaults (--hc residual for a plain transformer), and says so.

The weights are the checkpoint next to config.json (model.safetensors.index.json
or model.safetensors) unless --weights names one; without any, random.
The model file goes to stdout, or to -o, written atomically: nothing is
written when there is a problem.`,
		Example: `  mhcc import ~/ckpt/config.json -o model.yaml
  mhcc import config.json --hc residual --weights model.safetensors.index.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := args[0]
			if hc != model.HCMHC && hc != model.HCResidual {
				return fmt.Errorf("--hc: got %q, want mhc or residual", hc)
			}
			data, err := inputfile.ReadFile(cfg, maxConfigBytes, "a config.json")
			if err != nil {
				return err
			}
			if name == "" {
				name = filepath.Base(filepath.Dir(absOr(cfg)))
				if name == "" || name == "." || name == string(filepath.Separator) {
					name = "model"
				}
			}
			outDir := "."
			if out != "" {
				outDir = filepath.Dir(out)
			}
			if weights == "" {
				for _, f := range []string{"model.safetensors.index.json", "model.safetensors"} {
					if st, err := os.Stat(filepath.Join(filepath.Dir(cfg), f)); err == nil && !st.IsDir() {
						weights = filepath.Join(filepath.Dir(cfg), f)
						break
					}
				}
			}
			rel := ""
			if weights != "" {
				// weights.path is relative to the model file's folder.
				if rel, err = filepath.Rel(absOr(outDir), absOr(weights)); err != nil {
					rel = absOr(weights)
				}
			}
			opt := model.ImportOptions{Name: name, Weights: rel, HC: hc}
			imp, err := model.ImportHFConfig(cfg, data, opt)
			if err != nil {
				return err
			}
			// The file must load: checked with random weights, so that a
			// checkpoint still to be downloaded is no problem.
			opt.Weights = ""
			check, err := model.ImportHFConfig(cfg, data, opt)
			if err == nil {
				_, err = model.LoadBytes(filepath.Join(outDir, "imported.yaml"), check.YAML)
			}
			if err != nil {
				return fmt.Errorf("%s: the model file mhcc import would write does not load (nothing written):\n%v", cfg, err)
			}
			report(cmd.ErrOrStderr(), cfg, imp)
			if out == "" {
				_, err := cmd.OutOrStdout().Write(imp.YAML)
				return err
			}
			if err := atomicfile.Write(out, func(w io.Writer) error { _, err := w.Write(imp.YAML); return err }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s)\n", out, name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "the model file to write (default: stdout)")
	f.StringVar(&name, "name", "", "the model's name (default: config.json's folder)")
	f.StringVar(&weights, "weights", "", "the checkpoint: a safetensors file or *.safetensors.index.json (default: the one next to config.json)")
	f.StringVar(&hc, "hc", model.HCMHC, "hyper_connections.kind when config.json has no hc_mult: mhc (mhcc's defaults) or residual")
	return cmd
}

// report lists on stderr what of config.json the model file does not carry.
func report(w io.Writer, cfg string, imp *model.Imported) {
	if len(imp.Unsupported) > 0 {
		fmt.Fprintf(w, "mhcc import: %s: keys for features mhcc does not have (left out): %s\n", cfg, strings.Join(imp.Unsupported, "; "))
	}
	if len(imp.Unknown) > 0 {
		fmt.Fprintf(w, "mhcc import: %s: unknown keys (not used): %s\n", cfg, strings.Join(imp.Unknown, ", "))
	}
	if len(imp.Ignored) > 0 {
		fmt.Fprintf(w, "mhcc import: %s: keys with no effect on inference (not used): %s\n", cfg, strings.Join(imp.Ignored, ", "))
	}
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
