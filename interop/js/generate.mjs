// Greedy generation with a package written by `mhcc export`, in one of the
// two JavaScript clients mhcc is tested with (docs/testing.md):
//
//   node generate.mjs transformers DIR --prompts 1,2,3:4,5 --max-new-tokens N
//   node generate.mjs web DIR --prompts 1,2,3:4,5 --max-new-tokens N
//
// transformers: Hugging Face transformers.js (AutoModelForCausalLM.from_pretrained(DIR)
// and generate, greedy), on onnxruntime-node. web: onnxruntime-web's WASM execution
// provider in node, driven by the loop below (the cache fed back step by step, as
// transformers.js does). Prompts (ids, ':' between prompts) are left-padded into one
// batch with an attention_mask. Prints {"ids": [[new ids of each prompt]]}; a row
// stops after the package's eos_token_id. On failure prints {"error": "..."} and
// exits 1.
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
    const [engine, dir, ...rest] = argv;
    const a = { engine, dir, prompts: null, maxNew: 16 };
    for (let i = 0; i < rest.length; i += 2) {
        if (rest[i] === '--prompts') a.prompts = rest[i + 1].split(':').map((p) => p.split(',').map(Number));
        else if (rest[i] === '--max-new-tokens') a.maxNew = Number(rest[i + 1]);
        else throw new Error(`unknown argument ${rest[i]}`);
    }
    if (!['transformers', 'web'].includes(engine) || !dir || !a.prompts) {
        throw new Error('usage: node generate.mjs transformers|web DIR --prompts 1,2:3 --max-new-tokens N');
    }
    return a;
}

// leftPad returns ids and mask [batch, longest] as BigInt64Arrays.
function leftPad(prompts, pad) {
    const n = Math.max(...prompts.map((p) => p.length));
    const ids = new BigInt64Array(prompts.length * n);
    const mask = new BigInt64Array(prompts.length * n);
    prompts.forEach((p, b) => {
        for (let i = 0; i < n; i++) {
            const j = i - (n - p.length);
            ids[b * n + i] = BigInt(j >= 0 ? p[j] : pad);
            mask[b * n + i] = j >= 0 ? 1n : 0n;
        }
    });
    return { ids, mask, n };
}

// trimAtEos cuts each row after its first eos.
function trimAtEos(rows, eos) {
    if (eos === null || eos === undefined) return rows;
    return rows.map((r) => {
        const at = r.indexOf(eos);
        return at < 0 ? r : r.slice(0, at + 1);
    });
}

async function withTransformers(a, config, gen) {
    const { AutoModelForCausalLM, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    const model = await AutoModelForCausalLM.from_pretrained(path.resolve(a.dir), { local_files_only: true });
    const pad = gen.pad_token_id ?? 0;
    const { ids, mask, n } = leftPad(a.prompts, pad);
    const B = a.prompts.length;
    const out = await model.generate({
        input_ids: new Tensor('int64', ids, [B, n]),
        attention_mask: new Tensor('int64', mask, [B, n]),
        max_new_tokens: a.maxNew,
        do_sample: false,
    });
    const total = out.dims[1];
    const rows = [];
    for (let b = 0; b < B; b++) {
        rows.push(Array.from(out.data.slice(b * total + n, (b + 1) * total), Number));
    }
    // transformers.js 4.3.1 stops when every row has produced eos but keeps
    // generating greedy ids in a finished row of a batch (it does not pad
    // it), so batch rows are cut after their first eos here; a single row is
    // returned as transformers.js gives it, so its own eos stop is tested.
    return B === 1 ? rows : trimAtEos(rows, gen.eos_token_id);
}

// half converts IEEE binary16 bits to a number.
function half(h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * f * 2 ** -24;
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1 + f / 1024) * 2 ** (e - 15);
}

async function withWeb(a, config, gen) {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const js = config['transformers.js_config'] ?? {};
    const file = js.dtype === 'fp16' ? 'model_fp16.onnx' : 'model.onnx';
    const modelPath = path.join(a.dir, 'onnx', file);
    const options = { executionProviders: ['wasm'] };
    if (js.use_external_data_format) {
        options.externalData = [{ path: file + '_data', data: fs.readFileSync(modelPath + '_data') }];
    }
    const session = await ort.InferenceSession.create(fs.readFileSync(modelPath), options);
    const B = a.prompts.length;
    const { ids, mask, n } = leftPad(a.prompts, gen.pad_token_id ?? 0);
    const kvType = js.dtype === 'fp16' ? 'float16' : 'float32';
    let feeds = {};
    for (let i = 0; i < config.num_hidden_layers; i++) {
        for (const kind of ['key', 'value']) {
            const shape = [B, config.num_key_value_heads, 0, config.head_dim];
            feeds[`past_key_values.${i}.${kind}`] = kvType === 'float16'
                ? new ort.Tensor('float16', new Uint16Array(0), shape)
                : new ort.Tensor('float32', new Float32Array(0), shape);
        }
    }
    let curIds = ids, curLen = n, fullMask = Array.from(mask);
    const seen = a.prompts.map(() => 0);
    const rows = a.prompts.map(() => []);
    const done = a.prompts.map(() => false);
    for (let step = 0; step < a.maxNew; step++) {
        const total = fullMask.length / B;
        const pos = new BigInt64Array(B * curLen);
        for (let b = 0; b < B; b++) {
            for (let i = 0; i < curLen; i++) {
                const m = fullMask[b * total + total - curLen + i];
                pos[b * curLen + i] = BigInt(m ? seen[b]++ : 0);
            }
        }
        feeds.input_ids = new ort.Tensor('int64', curIds, [B, curLen]);
        feeds.attention_mask = new ort.Tensor('int64', BigInt64Array.from(fullMask), [B, total]);
        feeds.position_ids = new ort.Tensor('int64', pos, [B, curLen]);
        const out = await session.run(feeds);
        const logits = out.logits;
        const [, S, V] = logits.dims;
        const next = new BigInt64Array(B);
        for (let b = 0; b < B; b++) {
            let best = 0, bestV = -Infinity;
            const base = (b * S + S - 1) * V;
            for (let v = 0; v < V; v++) {
                const x = logits.type === 'float16' ? half(logits.data[base + v]) : logits.data[base + v];
                if (x > bestV) { bestV = x; best = v; }
            }
            next[b] = BigInt(best);
            if (!done[b]) {
                rows[b].push(best);
                done[b] = gen.eos_token_id !== undefined && gen.eos_token_id !== null && best === gen.eos_token_id;
            }
        }
        if (done.every(Boolean)) break;
        for (let i = 0; i < config.num_hidden_layers; i++) {
            feeds[`past_key_values.${i}.key`] = out[`present.${i}.key`];
            feeds[`past_key_values.${i}.value`] = out[`present.${i}.value`];
        }
        const m2 = [];
        for (let b = 0; b < B; b++) m2.push(...fullMask.slice(b * total, (b + 1) * total), 1n);
        fullMask = m2;
        curIds = next;
        curLen = 1;
    }
    return rows;
}

try {
    const a = parseArgs(process.argv.slice(2));
    const config = JSON.parse(fs.readFileSync(path.join(a.dir, 'config.json'), 'utf8'));
    const gen = JSON.parse(fs.readFileSync(path.join(a.dir, 'generation_config.json'), 'utf8'));
    const rows = a.engine === 'transformers' ? await withTransformers(a, config, gen) : await withWeb(a, config, gen);
    console.log(JSON.stringify({ ids: rows }));
} catch (e) {
    console.log(JSON.stringify({ error: String(e?.message ?? e) }));
    process.exit(1);
}
