# minigan.metrics: how good are generated digits? FID on the features of a small
# minigan-trained MNIST classifier, the classifier score exp E[KL(p(y|x) || p(y))], and the
# label accuracy of a conditional generator. See docs/metrics.md.
"""Sample-quality metrics for MNIST generators.

from minigan.metrics import evaluate_images
evaluate_images(images_uint8)                  # {"fid": ..., "score": ...}
evaluate_images(images_uint8, labels=asked)    # + "label_accuracy"
"""

from .classifier import (
    ARCH,
    DEFAULT_WEIGHTS,
    WEIGHTS_SHA256,
    ClassifierWeightsError,
    MNISTClassifier,
    file_sha256,
    load_classifier,
    preprocess,
    save_classifier,
)
from .scores import (
    DEFAULT_BATCH,
    DEFAULT_TEST_STATS,
    check_images,
    check_labels,
    classifier_outputs,
    classifier_score,
    default_classifier,
    evaluate_images,
    feature_stats,
    fid,
    frechet_distance,
    gaussian_fit,
    label_accuracy,
    reference_stats,
    score_from_logits,
    score_from_probs,
)

__all__ = [
    "ARCH",
    "DEFAULT_BATCH",
    "DEFAULT_TEST_STATS",
    "DEFAULT_WEIGHTS",
    "WEIGHTS_SHA256",
    "ClassifierWeightsError",
    "MNISTClassifier",
    "check_images",
    "check_labels",
    "classifier_outputs",
    "classifier_score",
    "default_classifier",
    "evaluate_images",
    "feature_stats",
    "fid",
    "file_sha256",
    "frechet_distance",
    "gaussian_fit",
    "label_accuracy",
    "load_classifier",
    "preprocess",
    "reference_stats",
    "save_classifier",
    "score_from_logits",
    "score_from_probs",
]
