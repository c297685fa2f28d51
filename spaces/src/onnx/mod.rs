//! A small ONNX graph builder over our own protobuf messages ([`pb`]:
//! prost, no `protoc` at build time, no tract).
//!
//! Search spaces describe a network as calls on [`GraphBuilder`]; it names
//! values, stores seeded weights as initializers and counts what it emits, and
//! [`GraphBuilder::finish`] returns the serialized model. Ops are emitted the
//! way PyTorch exports the same modules (e.g. h-swish as Add, Clip, Mul, Div),
//! so generated networks have the same graph as the real ones.

pub mod pb;

use prost::Message;

use crate::rng::SplitMix64;

/// ONNX element types used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32 = 1,
    I64 = 7,
}

/// An invalid architecture of a space: which field, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{space} architecture: field `{field}` {problem}; allowed: {allowed}")]
pub struct ArchError {
    pub space: &'static str,
    pub field: String,
    pub problem: String,
    pub allowed: String,
}

/// A generated model and what the generator knows about it.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The serialized ONNX model.
    pub onnx: Vec<u8>,
    pub op_counts: std::collections::BTreeMap<String, usize>,
    /// Elements of the graph's weights and biases (BatchNorm folded).
    pub weight_elements: u64,
    pub input_shape: Vec<usize>,
}

/// A convolution's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub groups: usize,
    /// Whether the conv has a bias input (BatchNorm folded, or a plain bias).
    pub bias: bool,
}

impl Conv {
    /// A dense `k x k` conv with bias (BatchNorm folded into it).
    pub fn dense(cin: usize, cout: usize, k: usize, stride: usize) -> Conv {
        Conv {
            cin,
            cout,
            k,
            stride,
            groups: 1,
            bias: true,
        }
    }

    /// A depthwise `k x k` conv with bias.
    pub fn depthwise(channels: usize, k: usize, stride: usize) -> Conv {
        Conv {
            cin: channels,
            cout: channels,
            k,
            stride,
            groups: channels,
            bias: true,
        }
    }
}

/// Builds one graph. Value names are unique (`prefix` plus a counter).
pub struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    rng: SplitMix64,
    counter: usize,
    metadata: Vec<(String, String)>,
    /// Elements stored in initializers (weights, biases, constants).
    pub initializer_elements: u64,
    /// Elements of weights and biases only (what PyTorch stores as parameters,
    /// BatchNorm folded), without scalar constants and shapes.
    pub weight_elements: u64,
}

pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ..Default::default()
    }
}

pub fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        i: v,
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        ..Default::default()
    }
}

pub fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        f: v,
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        ..Default::default()
    }
}

fn value_info(name: &str, elem: Elem, shape: &[usize]) -> pb::ValueInfoProto {
    let dims: Vec<Option<usize>> = shape.iter().map(|d| Some(*d)).collect();
    value_info_dims(name, elem, &dims)
}

/// A value's type; `None` dimensions are symbolic (named `batch`).
fn value_info_dims(name: &str, elem: Elem, shape: &[Option<usize>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(d) => Value::DimValue(*d as i64),
                                None => Value::DimParam("batch".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    pub fn new(seed: u64) -> Self {
        GraphBuilder {
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            rng: SplitMix64::new(seed),
            counter: 0,
            metadata: Vec::new(),
            initializer_elements: 0,
            weight_elements: 0,
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    pub fn input(&mut self, name: &str, elem: Elem, shape: &[usize]) -> String {
        self.inputs.push(value_info(name, elem, shape));
        name.to_string()
    }

    pub fn output(&mut self, value: &str, elem: Elem, shape: &[usize]) {
        self.outputs.push(value_info(value, elem, shape));
    }

    /// An input whose first dimension is the symbolic batch size and the
    /// rest are `rest`.
    pub fn input_batched(&mut self, name: &str, elem: Elem, rest: &[usize]) -> String {
        let dims: Vec<Option<usize>> = std::iter::once(None)
            .chain(rest.iter().map(|d| Some(*d)))
            .collect();
        self.inputs.push(value_info_dims(name, elem, &dims));
        name.to_string()
    }

    /// An output named `name` (an Identity of `value`) whose first dimension
    /// is the symbolic batch size.
    pub fn output_batched(&mut self, value: &str, name: &str, elem: Elem, rest: &[usize]) {
        let name = name.to_string();
        self.nodes.push(pb::NodeProto {
            name: format!("{name}_identity"),
            op_type: "Identity".into(),
            input: vec![value.into()],
            output: vec![name.clone()],
            ..Default::default()
        });
        let dims: Vec<Option<usize>> = std::iter::once(None)
            .chain(rest.iter().map(|d| Some(*d)))
            .collect();
        self.outputs.push(value_info_dims(&name, elem, &dims));
    }

    /// A float initializer with the given values.
    pub fn constant_f32(&mut self, prefix: &str, dims: &[usize], values: Vec<f32>) -> String {
        let name = self.fresh(prefix);
        self.initializer_elements += values.len() as u64;
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: Elem::F32 as i32,
            raw_data: raw,
            ..Default::default()
        });
        name
    }

    pub fn constant_i64(&mut self, prefix: &str, dims: &[usize], values: &[i64]) -> String {
        let name = self.fresh(prefix);
        self.initializer_elements += values.len() as u64;
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: Elem::I64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    pub fn scalar(&mut self, prefix: &str, v: f32) -> String {
        self.constant_f32(prefix, &[], vec![v])
    }

    /// Seeded uniform weights in `[-bound, bound)`.
    pub fn weights(&mut self, prefix: &str, dims: &[usize], bound: f32) -> String {
        let values = self.uniform(dims, bound);
        self.given_weights(prefix, dims, values)
    }

    fn uniform(&mut self, dims: &[usize], bound: f32) -> Vec<f32> {
        let n: usize = dims.iter().product();
        (0..n)
            .map(|_| ((self.rng.next_f64() * 2.0 - 1.0) as f32) * bound)
            .collect()
    }

    /// Weights with the given values (counted as weights, unlike constants).
    pub fn given_weights(&mut self, prefix: &str, dims: &[usize], values: Vec<f32>) -> String {
        debug_assert_eq!(values.len(), dims.iter().product::<usize>());
        self.weight_elements += values.len() as u64;
        self.constant_f32(prefix, dims, values)
    }

    /// Seeded uniform weights in `[center - bound, center + bound)`.
    pub fn weights_around(
        &mut self,
        prefix: &str,
        dims: &[usize],
        center: f32,
        bound: f32,
    ) -> String {
        let n: usize = dims.iter().product();
        self.weight_elements += n as u64;
        let values: Vec<f32> = (0..n)
            .map(|_| center + ((self.rng.next_f64() * 2.0 - 1.0) as f32) * bound)
            .collect();
        self.constant_f32(prefix, dims, values)
    }

    /// Emit a node; returns the names of its outputs.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
        outputs: usize,
    ) -> Vec<String> {
        let name = self.fresh(op);
        let outs: Vec<String> = (0..outputs).map(|i| format!("{name}_out{i}")).collect();
        self.nodes.push(pb::NodeProto {
            name,
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            attribute: attrs,
            ..Default::default()
        });
        outs
    }

    pub fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node(op, inputs, vec![], 1).remove(0)
    }

    /// `Conv` with a square kernel and symmetric `k/2` padding.
    /// Weights use He-uniform scaling so random activations neither explode
    /// nor decay into denormals (which would change the latency).
    pub fn conv(&mut self, x: &str, c: Conv) -> String {
        let fan_in = c.cin / c.groups * c.k * c.k;
        let bound = (6.0 / fan_in as f32).sqrt() * 0.5;
        let w = self.uniform(&[c.cout, c.cin / c.groups, c.k, c.k], bound);
        let w = self.given_weights("w", &[c.cout, c.cin / c.groups, c.k, c.k], w);
        let b = c.bias.then(|| {
            let b = self.uniform(&[c.cout], 0.1);
            self.given_weights("b", &[c.cout], b)
        });
        self.conv_node(x, c, w, b)
    }

    /// `Conv` with given weights (`[cout, cin/groups, k, k]`) and bias
    /// (`Some` exactly when `c.bias`).
    pub fn conv_given(
        &mut self,
        x: &str,
        c: Conv,
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> String {
        debug_assert_eq!(c.bias, bias.is_some());
        let w = self.given_weights("w", &[c.cout, c.cin / c.groups, c.k, c.k], weight);
        let b = bias.map(|b| self.given_weights("b", &[c.cout], b));
        self.conv_node(x, c, w, b)
    }

    fn conv_node(&mut self, x: &str, c: Conv, w: String, b: Option<String>) -> String {
        let mut ins = vec![x.to_string(), w];
        ins.extend(b);
        let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
        let (k, p, stride) = (c.k as i64, (c.k / 2) as i64, c.stride as i64);
        self.node(
            "Conv",
            &refs,
            vec![
                attr_ints("dilations", &[1, 1]),
                attr_int("group", c.groups as i64),
                attr_ints("kernel_shape", &[k, k]),
                attr_ints("pads", &[p, p, p, p]),
                attr_ints("strides", &[stride, stride]),
            ],
            1,
        )
        .remove(0)
    }

    /// `Clip(x, lo, hi)` with the bounds as inputs (opset 11+).
    pub fn clip(&mut self, x: &str, lo: f32, hi: f32) -> String {
        let lo = self.scalar("clip_min", lo);
        let hi = self.scalar("clip_max", hi);
        self.op("Clip", &[x, &lo, &hi])
    }

    /// PyTorch's `x * relu6(x + 3) / 6`: Add, Clip, Mul, Div.
    pub fn hswish(&mut self, x: &str) -> String {
        let three = self.scalar("c3", 3.0);
        let a = self.op("Add", &[x, &three]);
        let c = self.clip(&a, 0.0, 6.0);
        let m = self.op("Mul", &[x, &c]);
        let six = self.scalar("c6", 6.0);
        self.op("Div", &[&m, &six])
    }

    /// PyTorch's `relu6(x + 3) / 6`: Add, Clip, Div.
    pub fn hsigmoid(&mut self, x: &str) -> String {
        let three = self.scalar("c3", 3.0);
        let a = self.op("Add", &[x, &three]);
        let c = self.clip(&a, 0.0, 6.0);
        let six = self.scalar("c6", 6.0);
        self.op("Div", &[&c, &six])
    }

    /// `ReduceMean` over one axis, keeping it (opset 13: axes is an attribute).
    pub fn reduce_mean(&mut self, x: &str, axis: i64) -> String {
        self.node(
            "ReduceMean",
            &[x],
            vec![attr_ints("axes", &[axis]), attr_int("keepdims", 1)],
            1,
        )
        .remove(0)
    }

    /// `Gemm(x, W^T) + b` as PyTorch exports `nn.Linear`.
    pub fn linear(&mut self, x: &str, fin: usize, fout: usize) -> String {
        let bound = (6.0 / fin as f32).sqrt() * 0.5;
        let w = self.weights("w", &[fout, fin], bound);
        let b = self.weights("b", &[fout], 0.1);
        self.gemm(x, &w, &b)
    }

    /// `nn.Linear` with given weight `[fout, fin]` and bias `[fout]`.
    pub fn linear_given(
        &mut self,
        x: &str,
        fin: usize,
        fout: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> String {
        let w = self.given_weights("w", &[fout, fin], weight);
        let b = self.given_weights("b", &[fout], bias);
        self.gemm(x, &w, &b)
    }

    fn gemm(&mut self, x: &str, w: &str, b: &str) -> String {
        self.node(
            "Gemm",
            &[x, w, b],
            vec![
                attr_float("alpha", 1.0),
                attr_float("beta", 1.0),
                attr_int("transB", 1),
            ],
            1,
        )
        .remove(0)
    }

    /// Histogram of emitted op types.
    pub fn op_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for n in &self.nodes {
            *m.entry(n.op_type.clone()).or_insert(0) += 1;
        }
        m
    }

    /// The serialized model with what the builder counted.
    pub fn into_generated(
        self,
        graph_name: &str,
        opset: i64,
        input_shape: Vec<usize>,
    ) -> Generated {
        let op_counts = self.op_counts();
        let weight_elements = self.weight_elements;
        Generated {
            onnx: self.finish(graph_name, opset),
            op_counts,
            weight_elements,
            input_shape,
        }
    }

    /// A `metadata_props` entry of the model (onnxruntime's
    /// `custom_metadata_map`).
    pub fn metadata(&mut self, key: &str, value: &str) {
        self.metadata.push((key.into(), value.into()));
    }

    /// The serialized model.
    pub fn finish(self, graph_name: &str, opset: i64) -> Vec<u8> {
        let model = pb::ModelProto {
            ir_version: 8,
            producer_name: "frontier".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            graph: Some(pb::GraphProto {
                name: graph_name.into(),
                node: self.nodes,
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            metadata_props: self
                .metadata
                .into_iter()
                .map(|(key, value)| pb::StringStringEntryProto { key, value })
                .collect(),
            ..Default::default()
        };
        model.encode_to_vec()
    }
}
