"""Workload classification of real operators' pods and unreadable labels (found by a
break-test; the docstrings tell each case as it was found)."""

from __future__ import annotations

from pathlib import Path

from kubenexus.api import keys
from kubenexus.api.profile import classify
from tests.builders import make_pod

GPU = keys.GPU_NVIDIA


def test_an_argo_workflow_step_is_batch_not_a_service() -> None:
    """Argo Workflows' step pods carry ``workflows.argoproj.io/workflow`` and are owned by
    the Workflow (kind ``Workflow``): run-to-completion work, yet they fall through every
    batch rule to ``service`` (so they spread instead of packing). Kubeflow Pipelines v2
    runs its steps the same way."""
    pod = (
        make_pod("etl-2f8k-step-123")
        .label("workflows.argoproj.io/workflow", "etl-2f8k")
        .label("workflows.argoproj.io/completed", "false")
        .owner("Workflow", "etl-2f8k")
        .image("quay.io/argoproj/argoexec:v3.5.5")
        .req(cpu="4", memory="8Gi")
        .obj()
    )
    assert classify(pod, {}).workload == "batch"


def test_the_jupyterhub_hub_pod_is_a_service_not_interactive() -> None:
    """z2jh 4.x labels every pod of the chart ``app.kubernetes.io/name: jupyterhub`` — the hub,
    the proxy, the user-scheduler (a kube-scheduler) and the image pullers too. Only the
    single-user servers (``component: singleuser-server``) are interactive; the hub Deployment
    is classified interactive as well."""
    hub = (
        make_pod("hub-6bfdc4fcb7-lhm8t")
        .label("app", "jupyterhub")
        .label("component", "hub")
        .label("app.kubernetes.io/name", "jupyterhub")
        .label("app.kubernetes.io/component", "hub")
        .owner("ReplicaSet", "hub-6bfdc4fcb7")
        .image("quay.io/jupyterhub/k8s-hub:4.2.0")
        .obj()
    )
    assert classify(hub, {}).workload == "service"


def test_a_pytorchjob_worker_on_a_notebook_image_is_training() -> None:
    """The image heuristic (rule 2) beats the training operator's own labels (rule 4): a
    PyTorchJob gang-less worker with 8 GPUs running Kubeflow's stock
    ``jupyter-pytorch-cuda-full`` image (commonly reused to run training code written in a
    notebook) is classified interactive, so it spreads instead of packing."""
    pod = (
        make_pod("bert-worker-0")
        .label("training.kubeflow.org/job-name", "bert")
        .label("training.kubeflow.org/replica-type", "worker")
        .label("training.kubeflow.org/operator-name", "pytorchjob-controller")
        .owner("PyTorchJob", "bert")
        .image("kubeflownotebookswg/jupyter-pytorch-cuda-full:v1.8.0")
        .extended(GPU, "8")
        .obj()
    )
    assert classify(pod, {}).workload == "training"


def test_an_image_is_matched_by_substring_so_interaction_is_interactive() -> None:
    """docs/profiles.md: "an image named jupyter/rstudio/code-server/vscode/nteract"; the code
    tests substrings of the repository name, and "nteract" is inside "interaction": a
    Job's pod running ``acme/user-interactions-etl`` is classified interactive."""
    pod = (
        make_pod("etl-x7")
        .owner("Job", "etl")
        .label("batch.kubernetes.io/job-name", "etl")
        .image("registry.acme.io/acme/user-interactions-etl:2.1")
        .obj()
    )
    assert classify(pod, {}).workload == "batch"


def test_scheduling_docs_agree_with_the_preemptible_rule() -> None:
    """docs/scheduling.md (gang preemption) still says a pod with "priority ≤ 100" is there to
    be preempted — the original's rule that docs/profiles.md says was dropped; the code
    makes a priority-50 pod firm (preemptibleBelowPriority defaults to 0)."""
    assert not classify(make_pod("p").priority(50).obj(), {}).preemptible
    text = Path(__file__).parents[2].joinpath("docs", "scheduling.md").read_text()
    assert "priority ≤ 100" not in text


def test_an_unreadable_preemptible_label_is_named_not_taken_as_false() -> None:
    """docs/profiles.md: "A label or annotation that cannot be read is ignored and named".
    ``workload.kubenexus.io/preemptible: "yes"`` is neither: it silently decides "not
    preemptible", overriding the pod's best-effort class, and no problem is reported (so no
    InvalidProfile Event, no simulate note)."""
    pod = make_pod("p").label(keys.PREEMPTIBLE_LABEL, "yes").priority_class("best-effort").obj()
    profile = classify(pod, {})
    assert profile.preemptible
    assert any(keys.PREEMPTIBLE_LABEL in problem for problem in profile.problems)


def test_an_unreadable_backfill_label_is_named() -> None:
    pod = make_pod("p").label(keys.BACKFILL_LABEL, "yes").obj()
    profile = classify(pod, {})
    assert any(keys.BACKFILL_LABEL in problem for problem in profile.problems)
