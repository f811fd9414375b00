"""Configs into the Experiment form from outside it: *Edit as new* on a job (Monitor), and a TOML
or JSON config uploaded or pasted (Experiment). Either replaces the form's values; nothing is
queued until Launch. A file that is not a valid config is refused with field-named errors, and
the form keeps what it had."""

from __future__ import annotations

import streamlit as st

from pruning_core.config import Config, ConfigError
from pruning_core.config.io import parse_config_text
from pruning_core.config.values import flat_values

from . import recipe_picker
from .recipe_picker import LOADED_KEY
from .text import plain

LOAD_KEY = "form_load"
MAX_BYTES = 1_000_000


def send_job(record: dict) -> None:
    """*Edit as new*: the job's complete config goes into the form on the Experiment page's next run."""
    st.session_state[LOAD_KEY] = (record["config"], f"job {record['id']}")


def apply_load() -> str | None:
    """Put a config sent by :func:`send_job` into the form; return where it came from."""
    sent = st.session_state.pop(LOAD_KEY, None)
    if sent is not None:
        config, source = sent
        recipe_picker.reset_form(flat_values(Config.from_dict(config).to_dict()), applied=None)
        st.session_state[LOADED_KEY] = source
        return source
    return None


def parsed(text: str, fmt: str, source: str) -> tuple[dict | None, list[str]]:
    """(partial config, []) of TOML or JSON text that makes a valid config, else (None, problems),
    each naming its field."""
    try:
        partial = parse_config_text(text, fmt, source, field="config")
        Config.from_dict(partial)
    except ConfigError as exc:
        return None, [str(e) for e in exc.errors]
    return partial, []


def upload_box() -> None:
    """*Load a config*: upload a .toml/.json file or paste TOML/JSON text, then load it into the form
    (its fields over the defaults, as ``run --config`` reads it)."""
    with st.expander("Load a config (TOML or JSON)"):
        upload = st.file_uploader("Config file", type=["toml", "json"], key="config_upload",
                                  help="a partial config, as `run --config` takes; e.g. a job's config.toml")
        pasted = st.text_area("… or paste it here", key="config_paste", height=120,
                              placeholder='[algorithm]\nrounds = 5\n\n[pruner.score]\nname = "random"')
        fmt = st.radio("Format of the pasted text", ["toml", "json"], horizontal=True, key="config_paste_format")
        if not st.button("Load into the form", key="config_load", disabled=upload is None and not pasted.strip()):
            return
        if upload is not None:
            raw = upload.getvalue()
            if len(raw) > MAX_BYTES:
                st.error(plain(f"{upload.name}: {len(raw):,} bytes; a config file is at most {MAX_BYTES:,}"))
                return
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                st.error(plain(f"{upload.name}: not UTF-8 text; a binary file?"))
                return
            source, kind = upload.name, "json" if upload.name.lower().endswith(".json") else "toml"
        else:
            text, source, kind = pasted, "the pasted text", fmt
        partial, problems = parsed(text, kind, source)
        if problems:
            st.error(f"{plain(source)} is not a valid config; the form is unchanged:\n\n"
                     + "\n".join(f"- {plain(p)}" for p in problems))
            return
        recipe_picker.reset_form(flat_values(partial), applied=None)
        st.session_state[LOADED_KEY] = source
        st.rerun()
