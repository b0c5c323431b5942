"""The registered networks in one table: name, Keras class, layers that dream well, smallest
input, pixel convention. TF-free, so presets and the command line read it without Keras;
transforms.dream.models builds the networks from it."""
from __future__ import annotations

import re
from dataclasses import dataclass

MODEL_FILE_SUFFIX = ".keras"  # a user's own model file


@dataclass(frozen=True)
class ModelFacts:
    name: str  # the registry name (--model)
    keras_class: str  # its keras.applications constructor
    default_layers: str  # layers that dream well (the classic set for InceptionV3)
    pixels: str  # pixel convention, a preprocessing.PREPROCESSINGS name
    min_input_size: int = 32  # the smallest side the network takes


MODEL_TABLE: tuple[ModelFacts, ...] = (
    ModelFacts("vgg16", "VGG16", "block4_conv3:1.0,block5_conv1:1.0", "caffe"),
    ModelFacts("inception_v3", "InceptionV3", "mixed4:1.0,mixed5:1.5,mixed6:2.0,mixed7:2.5",
               "inception", 75),
    ModelFacts("vgg19", "VGG19", "block4_conv4:1.0,block5_conv1:1.0", "caffe"),
    ModelFacts("resnet50", "ResNet50", "conv3_block4_out:1.0,conv4_block3_out:1.5", "caffe"),
    ModelFacts("mobilenet", "MobileNet", "conv_pw_7_relu:1.0,conv_pw_11_relu:1.5", "inception"),
    ModelFacts("mobilenet_v2", "MobileNetV2", "block_6_expand_relu:1.0,block_13_expand_relu:1.5",
               "inception"),
    # EfficientNets rescale inside; every width has the same block names.
    ModelFacts("efficientnet_b0", "EfficientNetB0",
               "block4a_expand_activation:1.0,block6a_expand_activation:1.5", "raw"),
    ModelFacts("inception_resnet_v2", "InceptionResNetV2", "mixed_6a:1.0,mixed_7a:1.5", "inception", 75),
    ModelFacts("xception", "Xception", "block6_sepconv3_act:1.0,block10_sepconv3_act:1.5", "inception", 71),
    ModelFacts("densenet121", "DenseNet121", "pool3_relu:1.0,pool4_relu:1.5", "torch"),
)
MODEL_FACTS = {facts.name: facts for facts in MODEL_TABLE}
BY_KERAS_CLASS = {facts.keras_class: facts for facts in MODEL_TABLE}


def table_facts(model: str) -> ModelFacts | None:
    """The table's row for a --model name (any case, '_' optional), or None: a Keras class
    outside the table or a model file, which only Keras can tell about."""
    def canonical(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())

    return MODEL_FACTS.get(model) or next(
        (facts for facts in MODEL_TABLE if canonical(facts.name) == canonical(model)), None)
