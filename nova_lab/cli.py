"""The `nova-lab` command: run the study and its chores."""

from __future__ import annotations

import argparse
import errno
import re
import sys
from importlib.metadata import version
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from nova_lab.bedrock.polling import RunStopped
from nova_lab.bedrock.teardown import TeardownIncomplete
from nova_lab.core.params import ParamsError
from nova_lab.core.paths import UnusableState
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.core.study_steps import StepNotRun
from nova_lab.runner import NotebookStopped, RunLocked


def _study(args: argparse.Namespace) -> int:
    from nova_lab.runner import run_study

    timings = run_study(tuple(args.models) if args.models else None, args.overlay)
    for step, seconds in timings.items():
        print(f"{step}: {seconds:.0f} s")
    return 0


def _run(args: argparse.Namespace) -> int:
    from nova_lab.runner import run_step

    print(f"nova-lab: wrote {run_step(args.step, args.params)}")
    return 0


def _validate_jsonl(args: argparse.Namespace) -> int:
    """Every file given is checked, even after one that cannot be read; each unreadable one is one line."""
    from nova_lab.data.nova_format import UnreadableFile, check_file

    problems = 0
    for path in args.files:
        try:
            checked = check_file(path)
        except UnreadableFile as exc:
            print(f"nova-lab: {exc}", file=sys.stderr)
            problems += 1
            continue
        problems += len(checked.violations)
        print(f"{path}: {checked.records} record(s), {len(checked.violations)} problem(s)")
        for violation in checked.violations:
            print(f"  {violation}")
        for warning in checked.warnings:
            print(f"  warning: {warning}")
    return 1 if problems else 0


def _export(args: argparse.Namespace) -> int:
    """A run's corpus and Q&A set as a folder of documents and a CSV: the form a user's own study takes."""
    from nova_lab.data import data_prep, documents, questions

    target = Path(args.to)
    if target.exists() and any(target.iterdir()):
        return main_error(f"{target} is not empty: name a new folder (export writes nothing over other files)")
    docs, qa = data_prep.read_documents(args.run_name), data_prep.read_qa(args.run_name)
    documents.write_folder(docs, target / "documents")
    written = questions.write_questions(qa, target / "questions.csv")
    print(f"nova-lab: wrote {len(docs)} documents to {target / 'documents'} and {len(qa)} Q&A pairs to {written}; "
          f"a study on them takes `documents: {target / 'documents'}` and `questions: {written}` in its params")
    return 0


def _services(args: argparse.Namespace) -> int:
    from nova_lab.core.params import available_services

    print("\n".join(available_services()))
    return 0


def _plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from nova_lab.core import paths
    from nova_lab.core.params import load_params
    from nova_lab.costing import plan, pricing

    params = load_params(*args.params)
    if params.bedrock is None:
        print(f"nova-lab: no `bedrock:` section in {' + '.join(args.params)}: using params/bedrock.yaml's")
        params = load_params(*args.params, paths.PARAMS / "bedrock.yaml")
    models = params.sizes
    built = plan.build(params, models)
    with pd.option_context("display.max_colwidth", 70, "display.width", 200):
        print(built.table().to_string(index=False, formatters={"usd": "${:,.2f}".format}))
    if built.jobs:
        print(f"\nbatch inference jobs (one a model and step; records a job fails are asked again on demand):\n"
              f"{built.jobs_table().to_string(index=False)}")
    print(f"\nestimated total: ${built.total_usd:,.2f} (prices as of {pricing.AS_OF}); max_usd: ${params.bedrock.max_usd:,.2f}")
    try:
        plan.check_budget(built, params.bedrock.max_usd)
        print("within budget")
    except plan.BudgetExceeded as exc:
        print(f"a run would refuse to start: {exc}")
    print("\nprices not confirmed by a second source:\n  " + "\n  ".join(built.unverified_prices()))
    print("\nassumptions:\n  " + "\n  ".join(built.assumptions))
    with pd.option_context("display.width", 200):
        print(f"\nthis study and one with {plan.SCALE}x its test questions, on demand and with batch jobs "
              f"(bedrock.invocation):\n{plan.at_scale(params, models).to_string(index=False)}")
    return 0


def _bedrock_params(files: list[str]):
    from nova_lab.core.params import load_params

    params = load_params(*files)
    if params.bedrock is None:
        raise ParamsError(f"no `bedrock:` section in {' + '.join(files)}: add params/bedrock.yaml (with your bucket and role)")
    return params


def _preflight(args: argparse.Namespace) -> int:
    from nova_lab.bedrock import preflight

    params = _bedrock_params(args.params)
    models = params.sizes
    checks = preflight.run(preflight.PreflightClients.create(params.bedrock.region), params, models)
    print(preflight.table(checks))
    missing = sum(check.ready is False for check in checks)  # None: could not check, a warning
    print(f"\n{'ready: nothing billable has been made' if not missing else f'{missing} check(s) NOT READY: fix them first'}")
    return 1 if missing else 0


def _iam_policy(args: argparse.Namespace) -> int:
    import json

    from nova_lab.bedrock import iam

    params = _bedrock_params(args.params)
    role = iam.role_policies(params)
    for title, document in (("role trust policy", role["trust"]), ("role permissions", role["permissions"]),
                            ("caller permissions", iam.caller_policy(params))):
        print(f"# {title}\n{json.dumps(document, indent=2)}\n")
    return 0


def _teardown(args: argparse.Namespace) -> int:
    from nova_lab.bedrock import resources, teardown, tokens
    from nova_lab.core.params import ParamsError, load_params

    params = load_params(*args.params)
    if params.bedrock is None:
        raise ParamsError(f"no `bedrock:` section in {' + '.join(args.params)}: teardown needs the bucket and study_tag")
    found = teardown.teardown(resources.Clients.create(params.bedrock), params.bedrock, dry_run=args.dry_run)
    if not args.dry_run:  # what the run makes next is new: its client request tokens must be too
        tokens.rotate_nonce(params.run_name)
    verb = "would remove" if args.dry_run else "removed"
    print(f"nova-lab: {verb} {len(found)} resource(s) tagged {resources.TAG_KEY}={params.bedrock.study_tag}")
    for resource in found:
        print(f"  {resource.kind}: {resource.name}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="nova-lab", description=__doc__)
    top.add_argument("--version", action="version", version=f"%(prog)s {version('nova-lab')}")
    commands = top.add_subparsers(dest="command", required=True)
    study = commands.add_parser("study", help="run the study's notebooks with papermill")
    study.add_argument("--models", nargs="+", choices=list(STUDY_MODELS),
                       help="which model sizes to run (default: the params' `models:`, both in params/study.yaml)")
    study.add_argument("--overlay", help="a params file applied over every step's params (e.g. params/smoke.yaml)")
    study.set_defaults(run=_study)
    one = commands.add_parser("run", help="run one notebook with the study's params (extends followed, unknown keys refused)")
    one.add_argument("step", help="the step's number or name: 01 .. 06, or 02_kb_build")
    one.add_argument("--params", nargs="+", required=True,
                     help="params files, later ones override earlier ones (per-model steps: params/<model>.yaml)")
    one.set_defaults(run=_run)
    check = commands.add_parser("validate-jsonl", help="check Nova fine-tuning JSONL files as Bedrock would")
    check.add_argument("files", nargs="+")
    check.set_defaults(run=_validate_jsonl)
    planner = commands.add_parser("plan", help="what a Bedrock run would create, call and cost (no credentials needed)")
    planner.add_argument("--params", nargs="+", required=True, help="params files, later ones override earlier ones")
    planner.set_defaults(run=_plan)
    remover = commands.add_parser("teardown", help="remove every AWS resource the study created (found by tag)")
    remover.add_argument("--params", nargs="+", required=True, help="the params files of the Bedrock run")
    remover.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    remover.set_defaults(run=_teardown)
    checker = commands.add_parser("preflight", help="check models, profiles, bucket, role and quotas before a Bedrock run")
    checker.add_argument("--params", nargs="+", required=True, help="the params files of the Bedrock run")
    checker.set_defaults(run=_preflight)
    policy = commands.add_parser("iam-policy", help="print the IAM policies (the role's and the caller's) a Bedrock run needs")
    policy.add_argument("--params", nargs="+", required=True, help="the params files of the Bedrock run")
    policy.set_defaults(run=_iam_policy)
    export = commands.add_parser("export", help="a run's corpus and Q&A set as a documents folder and a CSV")
    export.add_argument("to", help="a new folder: documents/ and questions.csv go there")
    export.add_argument("--run", dest="run_name", default="smoke", help="the run whose step 01 made them (default: smoke)")
    export.set_defaults(run=_export)
    services = commands.add_parser("services", help="list the botocore services the corpus can use")
    services.set_defaults(run=_services)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (StepNotRun, RunLocked, UnusableState) as exc:  # before FileNotFoundError, StepNotRun's base
        return main_error(str(exc))
    except (ParamsError, FileNotFoundError) as exc:
        print(f"nova-lab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nova-lab: interrupted; run the same command to resume", file=sys.stderr)
        return 130
    except NotebookStopped as exc:
        if exc.ename in STOPS:
            return main_error(_stop_message(exc.ename, exc.evalue, exc.notebook))
        return main_error(f"{exc.notebook.stem} failed: {exc.ename}: {exc.evalue} (its traceback is in {exc.notebook})")
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        return main_error(_no_space(f"writing {exc.filename or 'the outputs'}"))
    except RunStopped as exc:  # a Bedrock step's stop: its message is the way out
        return main_error(str(exc))
    except (BotoCoreError, ClientError, TeardownIncomplete) as exc:  # no credentials, access denied, some left
        print(f"nova-lab: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}  # a full disk, a file-size limit, a quota
# a notebook's errors whose message is the way out: shown as one line, without the notebook's traceback
STOPS = {"OSError", "KeyboardInterrupt", "DeadKernelError", "RunLocked", "StepNotRun", "ParamsError", "UnusableState",
         "DocumentsError", "QuestionsError", "GradedSetError",  # ParamsError's: your documents, Q&A file, grades
         *("CredentialsExpired", "WaitTimedOut", "DailyQuotaSpent", "IngestionFailed", "ResourceMismatch", "ResourceFailed",
           "CollectionFailed", "CustomizationFailed", "ServingFailed", "BatchJobFailed",
           "EvaluationJobFailed")}  # every RunStopped (a test checks)


def main_error(message: str) -> int:
    print(f"nova-lab: {message}", file=sys.stderr)
    return 1


def _no_space(writing: str) -> str:
    return (f"no space left while {writing}: free some space (or point NOVA_LAB_OUTPUTS elsewhere) and run the same "
            f"command to resume")


def _stop_message(ename: str, evalue: str, notebook: Path) -> str:
    """One line for a notebook that stopped on a fault the user can fix, instead of its traceback."""
    if ename == "KeyboardInterrupt":
        return "interrupted; run the same command to resume"
    if ename == "DeadKernelError":
        return (f"{notebook.stem}'s kernel died ({notebook} holds what it did): it was killed from outside, most likely "
                f"by the system for want of memory; free some memory and run the same command to resume")
    # Python says [Errno 28] ...: 'file'; pyarrow says [errno 28], and a write on an open file names no file
    space = re.search(r"\[errno (\d+)\][^:]*(?::\s*'([^']+)')?", evalue, re.IGNORECASE)
    if ename == "OSError" and space and int(space.group(1)) in NO_SPACE:
        return _no_space(f"writing {space.group(2)}" if space.group(2) else f"{notebook.stem} was writing (see {notebook})")
    return f"{ename}: {evalue}"


if __name__ == "__main__":
    sys.exit(main())
