// Shared by the ONNX tests: the model-zoo networks the CPU issue exports (small inputs), and a
// float32 value-info builder for hand-made ONNX graphs.
import { create } from '@bufbuild/protobuf';
import { type nn, models } from '../src/index.js';
import { TensorProto_DataType, ValueInfoProtoSchema } from '../src/onnx/generated/onnx_pb.js';

/** [name, the layer and an input shape it takes]: LeNet-5, ResNet-18, U-Net, an LSTM classifier. */
export const exportedModels: [string, () => { layer: nn.Layer; shape: number[] }][] = [
  ['LeNet-5', () => ({ layer: models.lenet5(), shape: [2, 1, 28, 28] })],
  [
    'ResNet-18 (small input)',
    () => ({ layer: models.resnet18({ numClasses: 10, small: true }), shape: [1, 3, 16, 16] }),
  ],
  ['U-Net', () => ({ layer: models.unet({ widths: [4, 8], numClasses: 2 }), shape: [1, 1, 16, 16] })],
  [
    'LSTM sequence classifier',
    () => ({ layer: models.sequenceClassifier({ cell: 'lstm', hidden: 8, numClasses: 3 }), shape: [2, 6, 4] }),
  ],
];

/** A float32 graph input or output of the given dimensions. */
export const f32 = (name: string, dims: number[]) =>
  create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType: TensorProto_DataType.FLOAT,
          shape: { dim: dims.map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } })) },
        },
      },
    },
  });
