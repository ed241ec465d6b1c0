/**
 * A one-node ONNX model `C = MatMul(A, B)` (A [M, K], B [K, N], f32), encoded in memory as ONNX protobuf bytes so
 * the GEMM benchmark can run the same product in onnxruntime without a model file.
 *
 * Why by hand: the npm package that ships the ONNX schema (`onnx-proto` 8.0.1, a personal repository) pins
 * protobufjs ^6.11 while protobufjs is at 8; the model needs six message types and two wire types, so a small
 * documented encoder is less code than the dependency. onnxruntime itself validates the bytes when it loads them (a malformed model fails to load),
 * and the benchmark compares the product it computes against Kiln's, so an encoding mistake cannot pass silently.
 *
 * Protobuf wire format used (https://protobuf.dev/programming-guides/encoding/): every field is a tag
 * `(fieldNumber << 3) | wireType` as a varint, then the value — wire type 0 = varint (int32/int64),
 * wire type 2 = length-delimited (a varint byte length, then UTF-8 text or an embedded message's bytes).
 *
 * Field numbers, from onnx/onnx.proto (IR version 8):
 *   ModelProto          ir_version = 1 (int64), graph = 7 (GraphProto), opset_import = 8 (OperatorSetIdProto),
 *                       producer_name = 2 (string)
 *   OperatorSetIdProto  domain = 1 (string; "" is the default ai.onnx domain), version = 2 (int64)
 *   GraphProto          node = 1 (NodeProto), name = 2 (string), input = 11, output = 12 (ValueInfoProto)
 *   NodeProto           input = 1, output = 2, name = 3, op_type = 4 (all strings)
 *   ValueInfoProto      name = 1 (string), type = 2 (TypeProto)
 *   TypeProto           tensor_type = 1 (TypeProto.Tensor)
 *   TypeProto.Tensor    elem_type = 1 (int32; TensorProto.DataType FLOAT = 1), shape = 2 (TensorShapeProto)
 *   TensorShapeProto    dim = 1 (Dimension)
 *   Dimension           dim_value = 1 (int64)
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const ONNX_FLOAT = 1;
/** IR version 8 (ONNX 1.10+) and opset 13, both long supported by every current onnxruntime. */
const IR_VERSION = 8;
const OPSET = 13;

/** Unsigned LEB128 varint of a non-negative safe integer. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function tag(field: number, wire: number): number[] {
  return varint((field << 3) | wire);
}

function intField(field: number, value: number): number[] {
  return [...tag(field, WIRE_VARINT), ...varint(value)];
}

function bytesField(field: number, bytes: ArrayLike<number>): number[] {
  return [...tag(field, WIRE_LEN), ...varint(bytes.length), ...Array.from(bytes)];
}

function stringField(field: number, text: string): number[] {
  return bytesField(field, new TextEncoder().encode(text));
}

/** ValueInfoProto for a float tensor of a fixed shape. */
function tensorValueInfo(name: string, shape: readonly number[]): number[] {
  const dims = shape.flatMap((d) => bytesField(1, intField(1, d))); // TensorShapeProto.dim { dim_value }
  const tensorType = [...intField(1, ONNX_FLOAT), ...bytesField(2, dims)]; // TypeProto.Tensor
  const typeProto = bytesField(1, tensorType); // TypeProto.tensor_type
  return [...stringField(1, name), ...bytesField(2, typeProto)];
}

/** ONNX bytes of the graph `C[M, N] = MatMul(A[M, K], B[K, N])`, inputs named "A", "B" and output "C". */
export function onnxMatMulModel(M: number, K: number, N: number): Uint8Array {
  for (const [name, v] of [['M', M], ['K', K], ['N', N]] as const)
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`onnxMatMulModel: ${name} = ${v} must be a positive integer`);
  const node = [...stringField(1, 'A'), ...stringField(1, 'B'), ...stringField(2, 'C'), ...stringField(3, 'matmul'), ...stringField(4, 'MatMul')];
  const graph = [
    ...bytesField(1, node),
    ...stringField(2, 'kiln_bench_matmul'),
    ...bytesField(11, tensorValueInfo('A', [M, K])),
    ...bytesField(11, tensorValueInfo('B', [K, N])),
    ...bytesField(12, tensorValueInfo('C', [M, N])),
  ];
  const opset = [...stringField(1, ''), ...intField(2, OPSET)];
  const model = [...intField(1, IR_VERSION), ...stringField(2, 'kiln-bench'), ...bytesField(7, graph), ...bytesField(8, opset)];
  return Uint8Array.from(model);
}
