/**
 * Image classifiers, written as torchvision writes them: the same constructors, configurations
 * and `state_dict()` names (`conv1.weight`, `layer1.0.bn1.running_mean`,
 * `features.denseblock1.denselayer1.norm1.weight`), so torchvision checkpoints load into them
 * (see {@link fromStateDict}). Options beyond torchvision's (`width`, `small`, `hidden`) shrink
 * the networks for small inputs and tests.
 * @module
 */
import type { Array } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import * as np from '../np/index.js';
import * as F from '../nn/functional.js';
import {
  type Layer,
  adaptiveAvgPool2d,
  avgPool2d,
  batchNorm,
  conv2d,
  dense,
  dropout,
  flatten,
  identity,
  maxPool2d,
  module,
  relu,
  serial,
  tanh,
} from '../nn/index.js';

const flat = (x: Array) => np.reshape(x, [x.shape[0], -1]);
const scaled = (width: number) => (n: number) => Math.max(1, Math.round(n * width));

/** Options shared by the classifiers. @category Models */
export interface ClassifierOptions {
  /** Output classes (default 1000, ImageNet). */
  numClasses?: number;
}

/**
 * LeNet-5 (LeCun et al. 1998) for `[N, 1, 28, 28]`: two 5x5 convolutions with pooling, then
 * 120-84-10 fully connected layers. `activation` tanh as in the paper or relu (default).
 * @example const { params } = lenet5().init(random.key(0), [1, 1, 28, 28]);
 * @category Models
 */
export function lenet5(opts: { numClasses?: number; activation?: 'relu' | 'tanh'; pool?: 'max' | 'avg' } = {}): Layer {
  const act = opts.activation === 'tanh' ? tanh : relu;
  const pool = opts.pool === 'avg' ? avgPool2d(2) : maxPool2d(2);
  return {
    ...serial({
      conv1: conv2d(6, 5, { padding: 2 }),
      act1: act,
      pool1: pool,
      conv2: conv2d(16, 5),
      act2: act,
      pool2: pool,
      flatten,
      fc1: dense(120),
      act3: act,
      fc2: dense(84),
      act4: act,
      fc3: dense(opts.numClasses ?? 10),
    }),
    inputShape: [1, 1, 28, 28],
  };
}

/**
 * AlexNet (Krizhevsky et al. 2012) as torchvision builds it (the single-tower variant of
 * "One weird trick"): 61,100,840 parameters. `width` scales the channels.
 * @category Models
 */
export function alexnet(opts: ClassifierOptions & { width?: number; dropout?: number } = {}): Layer {
  const c = scaled(opts.width ?? 1);
  const p = opts.dropout ?? 0.5;
  const layers = {
    features: serial(
      conv2d(c(64), 11, { stride: 4, padding: 2 }),
      relu,
      maxPool2d(3, { stride: 2 }),
      conv2d(c(192), 5, { padding: 2 }),
      relu,
      maxPool2d(3, { stride: 2 }),
      conv2d(c(384), 3, { padding: 1 }),
      relu,
      conv2d(c(256), 3, { padding: 1 }),
      relu,
      conv2d(c(256), 3, { padding: 1 }),
      relu,
      maxPool2d(3, { stride: 2 }),
    ),
    avgpool: adaptiveAvgPool2d(6),
    classifier: serial(
      dropout(p),
      dense(c(4096)),
      relu,
      dropout(p),
      dense(c(4096)),
      relu,
      dense(opts.numClasses ?? 1000),
    ),
  };
  return module('alexnet', layers, (m, x) => m.classifier(flat(m.avgpool(m.features(x)))), [1, 3, 224, 224]);
}

/** A VGG configuration: numbers are 3x3 convolution widths, 'M' a 2x2 max pool. @category Models */
export type VggConfig = (number | 'M')[];
/** torchvision's VGG configurations A, B, D and E. @category Models */
export const vggConfigs: Record<11 | 13 | 16 | 19, VggConfig> = {
  11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};
/** Options of the VGG family. @category Models */
export interface VggOptions extends ClassifierOptions {
  /** Batch norm after each convolution (torchvision's `_bn` variants). */
  batchNorm?: boolean;
  /** Scales the convolution widths (default 1). */
  width?: number;
  /** Classifier hidden size (default 4096). */
  hidden?: number;
  /** Side of the adaptive average pool before the classifier (default 7). */
  poolSize?: number;
}

/**
 * VGG (Simonyan & Zisserman 2015) from a configuration, as torchvision builds it
 * (`features`, `avgpool`, `classifier`). Prefer {@link vgg11} ... {@link vgg19_bn}.
 * @category Models
 */
export function vgg(config: VggConfig, opts: VggOptions = {}): Layer {
  const c = scaled(opts.width ?? 1);
  const features = config.flatMap((v) =>
    v === 'M' ? [maxPool2d(2)] : [conv2d(c(v), 3, { padding: 1 }), ...(opts.batchNorm ? [batchNorm()] : []), relu],
  );
  const h = opts.hidden ?? 4096;
  const layers = {
    features: serial(...features),
    avgpool: adaptiveAvgPool2d(opts.poolSize ?? 7),
    classifier: serial(dense(h), relu, dropout(0.5), dense(h), relu, dropout(0.5), dense(opts.numClasses ?? 1000)),
  };
  return module('vgg', layers, (m, x) => m.classifier(flat(m.avgpool(m.features(x)))), [1, 3, 224, 224]);
}
/** VGG-11 (configuration A). @category Models */
export const vgg11 = (opts: VggOptions = {}): Layer => vgg(vggConfigs[11], opts);
/** VGG-13 (configuration B). @category Models */
export const vgg13 = (opts: VggOptions = {}): Layer => vgg(vggConfigs[13], opts);
/** VGG-16 (configuration D): 138,357,544 parameters. @category Models */
export const vgg16 = (opts: VggOptions = {}): Layer => vgg(vggConfigs[16], opts);
/** VGG-19 (configuration E). @category Models */
export const vgg19 = (opts: VggOptions = {}): Layer => vgg(vggConfigs[19], opts);
/** VGG-11 with batch norm. @category Models */
export const vgg11_bn = (opts: VggOptions = {}): Layer => vgg(vggConfigs[11], { ...opts, batchNorm: true });
/** VGG-13 with batch norm. @category Models */
export const vgg13_bn = (opts: VggOptions = {}): Layer => vgg(vggConfigs[13], { ...opts, batchNorm: true });
/** VGG-16 with batch norm. @category Models */
export const vgg16_bn = (opts: VggOptions = {}): Layer => vgg(vggConfigs[16], { ...opts, batchNorm: true });
/** VGG-19 with batch norm. @category Models */
export const vgg19_bn = (opts: VggOptions = {}): Layer => vgg(vggConfigs[19], { ...opts, batchNorm: true });

// ---------------------------------------------------------------- ResNet

const conv3x3 = (out: number, stride = 1) => conv2d(out, 3, { stride, padding: 1, bias: false });
const conv1x1 = (out: number, stride = 1) => conv2d(out, 1, { stride, bias: false });

/** A residual block family: its channel expansion and a constructor. @category Models */
export interface ResidualBlock {
  readonly expansion: number;
  (inChannels: number, planes: number, stride: number): Layer;
}

/** The projection shortcut torchvision calls `downsample`, when the shape changes. */
const downsample = (inChannels: number, out: number, stride: number): Record<string, Layer> =>
  stride !== 1 || inChannels !== out ? { downsample: serial(conv1x1(out, stride), batchNorm()) } : {};
const withShortcut = (m: Record<string, (x: Array) => Array>, x: Array, body: Array) =>
  F.relu(np.add(body, m.downsample ? m.downsample(x) : x));

/** ResNet basic block (He et al. 2016): two 3x3 convolutions; torchvision's `BasicBlock`. @category Models */
export const basicBlock: ResidualBlock = Object.assign(
  (inChannels: number, planes: number, stride: number): Layer =>
    module(
      'basicBlock',
      {
        conv1: conv3x3(planes, stride),
        bn1: batchNorm(),
        conv2: conv3x3(planes),
        bn2: batchNorm(),
        ...downsample(inChannels, planes, stride),
      },
      (m, x) => withShortcut(m, x, m.bn2(m.conv2(F.relu(m.bn1(m.conv1(x)))))),
    ),
  { expansion: 1 },
);

/** ResNet bottleneck block: 1x1 down, 3x3 (with the stride, as torchvision's V1.5), 1x1 up by 4. @category Models */
export const bottleneck: ResidualBlock = Object.assign(
  (inChannels: number, planes: number, stride: number): Layer =>
    module(
      'bottleneck',
      {
        conv1: conv1x1(planes),
        bn1: batchNorm(),
        conv2: conv3x3(planes, stride),
        bn2: batchNorm(),
        conv3: conv1x1(planes * 4),
        bn3: batchNorm(),
        ...downsample(inChannels, planes * 4, stride),
      },
      (m, x) => withShortcut(m, x, m.bn3(m.conv3(F.relu(m.bn2(m.conv2(F.relu(m.bn1(m.conv1(x))))))))),
    ),
  { expansion: 4 },
);

/** Options of the ResNet family. @category Models */
export interface ResNetOptions extends ClassifierOptions {
  /** Channels of the first stage (default 64; CIFAR ResNets use 16). */
  width?: number;
  /** A 3x3 stride-1 stem without max pool, for 32x32 inputs (CIFAR). */
  small?: boolean;
}

/**
 * ResNet (He et al. 2016) as torchvision builds it: `conv1`, `bn1`, `maxpool`, stages
 * `layer1`... of `blocks[i]` blocks, `avgpool`, `fc`. Prefer {@link resnet18} ... {@link resnet152}.
 * @category Models
 */
export function resnet(block: ResidualBlock, blocks: number[], opts: ResNetOptions = {}): Layer {
  const w = opts.width ?? 64;
  let c = w;
  const stages = Object.fromEntries(
    blocks.map((n, s) => {
      const planes = w * 2 ** s;
      const list: Layer[] = [];
      for (let i = 0; i < n; i++) {
        list.push(block(c, planes, i === 0 && s > 0 ? 2 : 1));
        c = planes * block.expansion;
      }
      return [`layer${s + 1}`, serial(...list)];
    }),
  );
  const layers: Record<string, Layer> = {
    conv1: opts.small ? conv3x3(w) : conv2d(w, 7, { stride: 2, padding: 3, bias: false }),
    bn1: batchNorm(),
    maxpool: opts.small ? identity : maxPool2d(3, { stride: 2, padding: 1 }),
    ...stages,
    fc: dense(opts.numClasses ?? 1000),
  };
  return module(
    'resnet',
    layers,
    (m, x) => {
      let h = m.maxpool(F.relu(m.bn1(m.conv1(x))));
      for (let s = 1; s <= blocks.length; s++) h = m[`layer${s}`](h);
      return m.fc(np.mean(h, { axis: [2, 3] }));
    },
    opts.small ? [1, 3, 32, 32] : [1, 3, 224, 224],
  );
}
/** ResNet-18: 11,689,512 parameters. @category Models */
export const resnet18 = (opts: ResNetOptions = {}): Layer => resnet(basicBlock, [2, 2, 2, 2], opts);
/** ResNet-34. @category Models */
export const resnet34 = (opts: ResNetOptions = {}): Layer => resnet(basicBlock, [3, 4, 6, 3], opts);
/** ResNet-50 (bottleneck blocks): 25,557,032 parameters. @category Models */
export const resnet50 = (opts: ResNetOptions = {}): Layer => resnet(bottleneck, [3, 4, 6, 3], opts);
/** ResNet-101. @category Models */
export const resnet101 = (opts: ResNetOptions = {}): Layer => resnet(bottleneck, [3, 4, 23, 3], opts);
/** ResNet-152. @category Models */
export const resnet152 = (opts: ResNetOptions = {}): Layer => resnet(bottleneck, [3, 8, 36, 3], opts);

/**
 * The CIFAR ResNets of He et al. 2016 (section 4.2): a 3x3 stem of 16 channels, three stages of
 * `(depth - 2) / 6` basic blocks (16, 32, 64 channels), with projection shortcuts (option B).
 */
function cifarResnet(depth: number, opts: ClassifierOptions): Layer {
  const n = (depth - 2) / 6;
  return resnet(basicBlock, [n, n, n], { numClasses: opts.numClasses ?? 10, width: 16, small: true });
}
/** ResNet-20 for 32x32 inputs (CIFAR-10). @category Models */
export const resnet20 = (opts: ClassifierOptions = {}): Layer => cifarResnet(20, opts);
/** ResNet-32 for 32x32 inputs. @category Models */
export const resnet32 = (opts: ClassifierOptions = {}): Layer => cifarResnet(32, opts);
/** ResNet-56 for 32x32 inputs. @category Models */
export const resnet56 = (opts: ClassifierOptions = {}): Layer => cifarResnet(56, opts);

// ---------------------------------------------------------------- DenseNet

/** Options of the DenseNet family. @category Models */
export interface DenseNetOptions extends ClassifierOptions {
  /** Channels each dense layer adds (default 32). */
  growthRate?: number;
  /** Dense layers per block (densenet121: [6, 12, 24, 16]). */
  blockConfig?: number[];
  /** Channels of the stem (default 64). */
  numInitFeatures?: number;
  /** Bottleneck width as a multiple of the growth rate (default 4). */
  bnSize?: number;
  /** A 3x3 stride-1 stem without max pool, for small inputs. */
  small?: boolean;
}

/** A DenseNet-BC layer: BN-ReLU-1x1 conv, BN-ReLU-3x3 conv, concatenated to its input. */
const denseLayer = (growth: number, bnSize: number) =>
  module(
    'denseLayer',
    {
      norm1: batchNorm(),
      relu1: relu,
      conv1: conv1x1(bnSize * growth),
      norm2: batchNorm(),
      relu2: relu,
      conv2: conv3x3(growth),
    },
    (m, x) => np.concatenate([x, m.conv2(m.relu2(m.norm2(m.conv1(m.relu1(m.norm1(x))))))], { axis: 1 }),
  );

/**
 * DenseNet-BC (Huang et al. 2017) as torchvision builds it: `features` (`conv0`, `norm0`,
 * `denseblock1`, `transition1`, ..., `norm5`) and `classifier`. Prefer {@link densenet121}.
 * @category Models
 */
export function densenet(opts: DenseNetOptions = {}): Layer {
  const k = opts.growthRate ?? 32,
    bnSize = opts.bnSize ?? 4;
  const blocks = opts.blockConfig ?? [6, 12, 24, 16];
  let c = opts.numInitFeatures ?? 64;
  const features: Record<string, Layer> = opts.small
    ? { conv0: conv3x3(c), norm0: batchNorm(), relu0: relu }
    : {
        conv0: conv2d(c, 7, { stride: 2, padding: 3, bias: false }),
        norm0: batchNorm(),
        relu0: relu,
        pool0: maxPool2d(3, { stride: 2, padding: 1 }),
      };
  blocks.forEach((n, i) => {
    const dense: Record<string, Layer> = {};
    for (let j = 0; j < n; j++) dense[`denselayer${j + 1}`] = denseLayer(k, bnSize);
    features[`denseblock${i + 1}`] = serial(dense);
    c += n * k;
    if (i < blocks.length - 1) {
      c = Math.floor(c / 2);
      features[`transition${i + 1}`] = serial({ norm: batchNorm(), relu, conv: conv1x1(c), pool: avgPool2d(2) });
    }
  });
  features.norm5 = batchNorm();
  return module(
    'densenet',
    { features: serial(features), classifier: dense(opts.numClasses ?? 1000) },
    (m, x) => m.classifier(np.mean(F.relu(m.features(x)), { axis: [2, 3] })),
    opts.small ? [1, 3, 32, 32] : [1, 3, 224, 224],
  );
}
const densenetOf =
  (blockConfig: number[]) =>
  (opts: DenseNetOptions = {}) => {
    if (opts.blockConfig) throw new ValueError('densenet121/169/201: blockConfig is fixed; call densenet() instead');
    return densenet({ ...opts, blockConfig });
  };
/** DenseNet-121: 7,978,856 parameters. @category Models */
export const densenet121: (opts?: DenseNetOptions) => Layer = densenetOf([6, 12, 24, 16]);
/** DenseNet-169. @category Models */
export const densenet169: (opts?: DenseNetOptions) => Layer = densenetOf([6, 12, 32, 32]);
/** DenseNet-201. @category Models */
export const densenet201: (opts?: DenseNetOptions) => Layer = densenetOf([6, 12, 48, 32]);
