// Decode speed of an mhcc package in transformers.js (onnxruntime-node) or
// onnxruntime-web (WASM), one thread each, for scripts/bench-generate:
//
//   node bench.mjs transformers|web DIR --batches 1,4 --pasts 0,512,2048 --steps N
//
// For each batch and cache length it runs N + 2 decode steps of one new token
// per row on a cache of `past` random keys and values (the cache is not grown,
// so every step costs the same), drops the first two (warm-up) and prints one
// JSON line {"batch", "past", "ms": [per-step milliseconds]}. transformers: the
// step goes through the model's forward (the call generate makes per token);
// web: straight to the session.
import fs from 'node:fs';
import path from 'node:path';

const [engine, dir, ...rest] = process.argv.slice(2);
const opt = { batches: [1], pasts: [0], steps: 10 };
for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === '--batches') opt.batches = rest[i + 1].split(',').map(Number);
    else if (rest[i] === '--pasts') opt.pasts = rest[i + 1].split(',').map(Number);
    else if (rest[i] === '--steps') opt.steps = Number(rest[i + 1]);
}
const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
const L = config.num_hidden_layers, KV = config.num_key_value_heads, D = config.head_dim;

let run, makeTensor;
if (engine === 'transformers') {
    const { AutoModelForCausalLM, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    const model = await AutoModelForCausalLM.from_pretrained(path.resolve(dir), {
        local_files_only: true,
        session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
    });
    makeTensor = (type, data, dims) => new Tensor(type, data, dims);
    // forward takes the cache as one past_key_values object, as generate passes it.
    run = (feeds) => {
        const { input_ids, attention_mask, position_ids, ...past } = feeds;
        return model.forward({ input_ids, attention_mask, position_ids, past_key_values: past });
    };
} else {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(fs.readFileSync(path.join(dir, 'onnx', 'model.onnx')), { executionProviders: ['wasm'] });
    makeTensor = (type, data, dims) => new ort.Tensor(type, data, dims);
    run = (feeds) => session.run(feeds);
}

let seed = 1;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
for (const B of opt.batches) {
    for (const P of opt.pasts) {
        const feeds = {
            input_ids: makeTensor('int64', new BigInt64Array(B).fill(1n), [B, 1]),
            attention_mask: makeTensor('int64', new BigInt64Array(B * (P + 1)).fill(1n), [B, P + 1]),
            position_ids: makeTensor('int64', new BigInt64Array(B).fill(BigInt(P)), [B, 1]),
        };
        for (let i = 0; i < L; i++) {
            for (const kind of ['key', 'value']) {
                const data = new Float32Array(B * KV * P * D);
                for (let j = 0; j < data.length; j++) data[j] = rand();
                feeds[`past_key_values.${i}.${kind}`] = makeTensor('float32', data, [B, KV, P, D]);
            }
        }
        const ms = [];
        for (let s = 0; s < opt.steps + 2; s++) {
            const t = process.hrtime.bigint();
            const out = await run(feeds);
            const dt = Number(process.hrtime.bigint() - t) / 1e6;
            if (out.logits.dims[0] !== B) throw new Error(`logits ${out.logits.dims}`);
            if (s >= 2) ms.push(dt);
        }
        console.log(JSON.stringify({ batch: B, past: P, ms }));
    }
}
