"""Record-level rules (R01–R11, W01–W04, W08, W10–W12) over a whole raw frame, as polars expressions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from exchange.core.rules.values import (
    AMOUNT_COLUMNS,
    AMOUNT_TYPE,
    DATE_COLUMNS,
    HOURS_COLUMN,
    RATE_COLUMNS,
    RATE_TYPE,
    add_months,
    amount_cause,
    date_cause,
    hundredths,
    is_total,
    nir_cause,
    parse_date,
    parse_year,
    parse_yes_no,
    siret_cause,
    to_decimal,
    whole_years_between,
)
from schemas import identifiers as ids
from schemas.anomalies import ANOMALY_SCHEMA, shown_value_expr
from schemas.catalogue import BLOCKING, rule
from schemas.declaration import (
    CA_CONDITIONAL,
    CA_FIELDS_BY_TYPE,
    MO_FIELDS_RG,
    MOTIFS_DEPART,
    TYPES_CHANGEMENT,
    TYPES_CONTRAT,
    Kind,
    columns,
    required,
)
from schemas.fields import field_label
from schemas.masking import LONG_RUN, LONG_RUN_MASKED_RUST, NIR_MASKED_RUST, NIR_SHAPED_RUST
from schemas.reference import MAYOTTE, Reference

MAX_NAME_CHARS = 80
MIN_AGE, MAX_AGE = 16, 100
FULL_TIME_HOURS = 35
# W01 / W02: the bound (remuneration_garantie.csv name) each amount is compared with.
BOUND_CHECKS: tuple[tuple[str, str, str], ...] = (
    ("W01", "remuneration_garantie_nette", "remuneration_garantie_max"),
    ("W02", "aide_au_poste_nette", "aide_au_poste_max"),
)


LOT = "_lot"  # column telling apart the files of a batch validated in one pass
XML = "_xml"  # Boolean column: the record came from an XML file (fields are then named by their element)
HIDDEN = "_masquee"  # Boolean column: the record came from a row hidden in a workbook (W12)
TOTAL = "_total"  # helper: the text of a total row's first cell saying « TOTAL », null on a worker's row
TOTAL_COLUMNS = (
    "siret_esat",
    "nir",
    "nom",
    "prenoms",
    "finess_esat",
    "annee_reference",
    "date_naissance",
    "numero_allocataire",
    "code_caf",
)
INDEPENDANT = "INDEPENDANT"
OPTIONAL_WHEN_INDEPENDANT = ("heures_hebdo_mo", "salaire_net_mo")  # R07 relaxed (v1.2)
W11_BOUND = "remuneration_garantie_min"


@dataclass(frozen=True)
class RecordCheck:
    """What the record rules give: the typed records (with `rejete`) and their anomalies."""

    typed: pl.DataFrame  # `ligne` + every column of columns(kind), typed + `rejete` (Boolean)
    anomalies: pl.DataFrame  # ANOMALY_SCHEMA, sorted by ligne then code


@dataclass(frozen=True)
class _Check:
    """One rule applied to the rows where `mask` is true."""

    code: str
    variant: str
    mask: pl.Expr
    champ: str = ""
    detail: pl.Expr | None = None
    valeur: str = ""  # column whose value the message shows (default: the field concerned)
    # Specific causes: `cause` names, row by row, which of `causes` (variants of the same code) explains
    # the anomaly; computed only on the rows that hit, so the mask stays cheap. `variant` is the fallback.
    cause: pl.Expr | None = None
    causes: tuple[str, ...] = ()


# --- helper column names in the working frame -------------------------------------------------
def _d(c: str) -> pl.Expr:  # parsed date
    return pl.col(f"_d_{c}")


def _h(c: str) -> pl.Expr:  # hundredths (exact Int64) of a decimal field
    return pl.col(f"_h_{c}")


def _filled(c: str) -> pl.Expr:
    return pl.col(c).is_not_null()


def _amount_ok(c: str) -> pl.Expr:
    return _h(c).is_not_null() & (_h(c) >= 0) & (_h(c) < 10_000_000_000)


def _rate_ok(c: str) -> pl.Expr:
    return _h(c).is_not_null() & (_h(c) > 0) & (_h(c) <= 10_000)


def _hours_ok() -> pl.Expr:
    return _h(HOURS_COLUMN).is_not_null() & (_h(HOURS_COLUMN) > 0) & (_h(HOURS_COLUMN) < FULL_TIME_HOURS * 100)


def _valid(c: str) -> pl.Expr:
    """The field's own format check passes (used to null the typed value)."""
    if c in AMOUNT_COLUMNS:
        return _amount_ok(c)
    if c in RATE_COLUMNS:
        return _rate_ok(c)
    return _hours_ok()


def fr_number(hundredths_expr: pl.Expr, keep_zero_cents: bool = True) -> pl.Expr:
    """Hundredths (Int64, ≥ 0) → French text: space between thousands, comma, 2 decimals ("1 994,59")."""
    units = hundredths_expr // 100
    cents = (hundredths_expr % 100).cast(pl.String).str.zfill(2)
    millions, thousands, rest = units // 1_000_000, (units // 1000) % 1000, units % 1000
    grouped = (
        pl.when(units >= 1_000_000)
        .then(
            pl.concat_str(
                [
                    millions.cast(pl.String),
                    pl.lit(" "),
                    thousands.cast(pl.String).str.zfill(3),
                    pl.lit(" "),
                    rest.cast(pl.String).str.zfill(3),
                ]
            )
        )
        .when(units >= 1000)
        .then(pl.concat_str([thousands.cast(pl.String), pl.lit(" "), rest.cast(pl.String).str.zfill(3)]))
        .otherwise(units.cast(pl.String))
    )
    with_cents = pl.concat_str([grouped, pl.lit(","), cents])
    if keep_zero_cents:
        return with_cents
    return pl.when(hundredths_expr % 100 == 0).then(grouped).otherwise(with_cents)


def _working_frame(raw: pl.DataFrame, kind: Kind) -> pl.DataFrame:
    """The raw frame (missing columns added as null) plus parsed helper columns."""
    cols = columns(kind)
    present = [pl.col(c).cast(pl.String) for c in cols if c in raw.columns]
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in cols if c not in raw.columns]
    frame = raw.with_columns(present + missing).rechunk()
    nir = pl.col("nir")
    helpers = [parse_date(pl.col(c)).alias(f"_d_{c}") for c in cols if c in DATE_COLUMNS]
    helpers += [
        hundredths(pl.col(c)).alias(f"_h_{c}")
        for c in cols
        if c in AMOUNT_COLUMNS or c in RATE_COLUMNS or c == HOURS_COLUMN
    ]
    helpers += [ids.nir_form_ok(nir).alias("_nir_form"), ids.nir_key_ok(nir).alias("_nir_key")]
    totals = [pl.when(is_total(pl.col(c))).then(pl.col(c)) for c in TOTAL_COLUMNS if c in cols]
    helpers.append(pl.coalesce(totals).alias(TOTAL))
    if kind == "RG":
        helpers += [
            parse_year(pl.col("annee_reference")).alias("_year"),
            parse_yes_no(pl.col("cumul_milieu_ordinaire")).alias("_cumul"),
        ]
    return frame.with_columns(helpers)


def _identity_checks(kind: Kind, reference: Reference) -> list[_Check]:
    """R01 (required, length), R02, R03, R09, R11, W10: checks on one field's value."""
    cols = columns(kind)
    checks = [_Check("R01", "obligatoire", pl.col(c).is_null(), c) for c in cols if c in required(kind)]
    checks += [
        _Check(
            "R01", "trop_long", pl.col(c).str.len_chars() > MAX_NAME_CHARS, c, pl.col(c).str.len_chars().cast(pl.String)
        )
        for c in ("nom", "prenoms")
    ]
    if kind == "CA":
        type_ok = pl.col("type_changement").is_in(TYPES_CHANGEMENT)
        for c in CA_CONDITIONAL:
            users = [t for t, fields in CA_FIELDS_BY_TYPE.items() if c in fields]
            used = pl.col("type_changement").is_in(users)
            need = type_ok & used & pl.col(c).is_null()
            if c == "heures_hebdo_mo":  # a self-employed activity has no contractual hours (v1.2)
                need = need & (pl.col("type_contrat_mo").fill_null("") != INDEPENDANT)
            checks.append(_Check("R01", "obligatoire", need, c))
            checks.append(_Check("R01", "interdit", type_ok & ~used & _filled(c), c))
    checks += [
        _Check(
            "R02",
            "forme",
            _filled("nir") & ~pl.col("_nir_form"),
            causes=("notation_scientifique", "espaces", "sans_cle"),
            cause=nir_cause(pl.col("nir")),
        ),
        _Check("R02", "cle", pl.col("_nir_form") & ~pl.col("_nir_key")),
    ]
    for c in ("siret_esat", "siret_employeur_mo"):
        checks.append(
            _Check(
                "R03",
                "forme",
                _filled(c) & ~ids.siret_form_ok(pl.col(c)),
                c,
                cause=siret_cause(pl.col(c)),
                causes=("notation_scientifique", "espaces"),
            )
        )
        checks.append(_Check("R03", "cle", ids.siret_form_ok(pl.col(c)) & ~ids.siret_ok(pl.col(c)), c))
    code_caf = pl.col("code_caf")
    checks.append(_Check("R09", "mayotte", code_caf == MAYOTTE))
    checks.append(
        _Check(
            "R09",
            "code_caf",
            _filled("code_caf") & (code_caf != MAYOTTE) & ~code_caf.is_in(sorted(reference.caf_codes_in_scope())),
            causes=("code_caf_zero",),
            cause=pl.when(code_caf.str.contains(r"^[1-9]$")).then(pl.lit("code_caf_zero")),
        )
    )
    lists = {"type_contrat_mo": TYPES_CONTRAT, "type_changement": TYPES_CHANGEMENT, "motif_depart": MOTIFS_DEPART}
    for c, allowed in lists.items():
        if c in cols:
            checks.append(_Check("R09", "liste", _filled(c) & ~pl.col(c).is_in(allowed), c, pl.lit(", ".join(allowed))))
    if "finess_esat" in cols:
        checks.append(_Check("R11", "finess", _filled("finess_esat") & ~ids.finess_form_ok(pl.col("finess_esat"))))
    checks.append(
        _Check("R11", "allocataire", _filled("numero_allocataire") & ~ids.allocataire_ok(pl.col("numero_allocataire")))
    )
    checks.append(_Check("W10", "", pl.col("_nir_form") & pl.col("nir").str.contains(r"^[3478]")))
    return checks


def _date_checks(kind: Kind, as_of: date) -> list[_Check]:
    """R04 (format, year, birth date against age and NIR, entry dates), W04, W08."""
    cols = columns(kind)
    checks = []
    for c in cols:
        if c in DATE_COLUMNS:
            variant, detail = date_cause(pl.col(c), as_of)
            checks.append(
                _Check(
                    "R04",
                    "format",
                    _filled(c) & _d(c).is_null(),
                    c,
                    detail,
                    cause=variant,
                    causes=("jour_impossible", "annee_2_chiffres", "numero_de_serie"),
                )
            )
    if kind == "RG":
        checks.append(_Check("R04", "annee_reference", _filled("annee_reference") & pl.col("_year").is_null()))
    birth = _d("date_naissance")
    age = whole_years_between(birth, pl.lit(as_of))
    nir_form = pl.col("_nir_form")
    nir_month = pl.col("nir").str.slice(3, 2).cast(pl.Int32, strict=False)
    checks += [
        _Check("R04", "naissance_future", birth > pl.lit(as_of)),
        _Check("R04", "age", (birth <= pl.lit(as_of)) & ((age < MIN_AGE) | (age > MAX_AGE))),
        _Check(
            "R04",
            "nir_annee",
            nir_form
            & birth.is_not_null()
            & (birth.dt.year() % 100 != pl.col("nir").str.slice(1, 2).cast(pl.Int32, strict=False)),
        ),
        _Check(
            "R04",
            "nir_mois",
            nir_form
            & birth.is_not_null()
            & nir_month.is_between(1, 12)
            & (birth.dt.month().cast(pl.Int32) != nir_month),
        ),
    ]
    latest = pl.lit(add_months(as_of, 3))
    for c in ("date_entree_esat", "date_debut_mo"):
        if c in cols:
            checks.append(
                _Check(
                    "R04",
                    "avant_16_ans",
                    birth.is_not_null() & _d(c).is_not_null() & (whole_years_between(birth, _d(c)) < MIN_AGE),
                    c,
                )
            )
            checks.append(_Check("R04", "trop_lointaine", _d(c) > latest, c))
    if kind == "RG":
        checks.append(_Check("W04", "", _d("date_entree_esat") > pl.date(pl.col("_year"), 11, 30)))
    else:
        effet = _d("date_effet")
        checks.append(_Check("W08", "", (effet > latest) | (effet < pl.lit(add_months(as_of, -24)))))
    return checks


def _number_checks(kind: Kind) -> list[_Check]:
    """R05, R06 (format and sum), R10, W03."""
    cols = columns(kind)
    checks = []
    for c in cols:
        if c in RATE_COLUMNS:
            sign = (
                pl.when(pl.col(c).str.contains("%", literal=True)).then(pl.lit("taux_signe")).otherwise(pl.lit("taux"))
            )
            checks.append(_Check("R05", "taux", _filled(c) & ~_rate_ok(c), c, cause=sign, causes=("taux_signe",)))
    checks.append(_Check("R05", "heures", _filled(HOURS_COLUMN) & ~_hours_ok()))
    for c in cols:
        if c in AMOUNT_COLUMNS:
            variant, example = amount_cause(pl.col(c))
            checks.append(
                _Check(
                    "R06",
                    "montant",
                    _filled(c) & ~_amount_ok(c),
                    c,
                    example,
                    cause=variant,
                    causes=(
                        "symbole_monetaire",
                        "espace_insecable",
                        "separateur_milliers",
                        "point_milliers",
                        "decimales",
                        "negatif",
                    ),
                )
            )
    if kind == "RG":
        rg, part, aide = "remuneration_garantie_nette", "part_financee_esat_nette", "aide_au_poste_nette"
        total = _h(part) + _h(aide)
        detail = pl.concat_str(
            [
                fr_number(_h(part)),
                pl.lit(" + "),
                fr_number(_h(aide)),
                pl.lit(" = "),
                fr_number(total),
                pl.lit(" ≠ "),
                fr_number(_h(rg)),
            ]
        )
        checks.append(
            _Check(
                "R06", "somme", _amount_ok(rg) & _amount_ok(part) & _amount_ok(aide) & (total != _h(rg)), detail=detail
            )
        )
        taux = "taux_activite_esat"
        # taux (hundredths of %) / 100 × 35 h + heures > 35 h, all in exact integers (×10 000).
        load = _h(taux) * FULL_TIME_HOURS + _h(HOURS_COLUMN) * 100
        detail = pl.concat_str(
            [
                fr_number(_h(taux), False),
                pl.lit(" % de 35 h + "),
                fr_number(_h(HOURS_COLUMN), False),
                pl.lit(" h = "),
                fr_number((load + 50) // 100),
                pl.lit(" h"),
            ]
        )
        over = _rate_ok(taux) & _hours_ok() & (load > FULL_TIME_HOURS * 10_000)
        checks.append(
            _Check(
                "W03",
                "",
                (pl.col("_cumul") == True) & over,  # noqa: E712
                detail=detail,
            )
        )
    else:
        before, after = _h("taux_activite_avant"), _h("taux_activite_apres")
        both = _rate_ok("taux_activite_avant") & _rate_ok("taux_activite_apres")
        kind_of = pl.col("type_changement")
        rates = pl.concat_str(
            [pl.lit("avant "), fr_number(before, False), pl.lit(" %, après "), fr_number(after, False), pl.lit(" %")]
        )
        checks.append(_Check("R10", "hausse", both & (kind_of == "HAUSSE_TAUX") & (after <= before), detail=rates))
        checks.append(_Check("R10", "baisse", both & (kind_of == "BAISSE_TAUX") & (after >= before), detail=rates))
    return checks


def _cumul_checks() -> list[_Check]:
    """R07 (RG): O/N value, and the five _mo fields all present with O, all empty with N."""
    cumul = pl.col("_cumul")
    checks = [_Check("R07", "valeur", _filled("cumul_milieu_ordinaire") & cumul.is_null())]
    independant = pl.col("type_contrat_mo").fill_null("") == INDEPENDANT
    checks += [
        _Check(
            "R07",
            "incomplet",
            cumul.eq(True) & pl.col(c).is_null() & (~independant if c in OPTIONAL_WHEN_INDEPENDANT else pl.lit(True)),
            c,
        )
        for c in MO_FIELDS_RG
    ]
    checks += [_Check("R07", "interdit", cumul.eq(False) & _filled(c), c) for c in MO_FIELDS_RG]
    return checks


def _year_map(years: list[int], value: dict[int, int | None]) -> pl.Expr:
    mapping = {y: v for y, v in value.items() if v is not None}
    if not mapping:
        return pl.lit(None, dtype=pl.Int64)
    return pl.col("_year").replace_strict(mapping, default=None, return_dtype=pl.Int64)


def _bound_checks(frame: pl.DataFrame, reference: Reference) -> list[_Check]:
    """W01 / W02 (RG): amount strictly above SMIC(1 November N) × percent × taux, rounded half-up."""
    years = [int(y) for y in frame.get_column("_year").drop_nulls().unique().to_list()]
    monthly = {y: reference.smic_monthly_for_year(y) for y in years}
    monthly_cents = _year_map(years, {y: int(m * 100) if m is not None else None for y, m in monthly.items()})
    checks = []
    taux = "taux_activite_esat"
    for code, amount, bound_name in BOUND_CHECKS:
        pct: dict[int, int | None] = {}
        for y in years:
            p = reference.bound_percent(bound_name, date(y, 11, 1))
            pct[y] = int(p * 1000) if p is not None and (p * 1000) % 1 == 0 else None
        # cents = M(cents) × P(thousandths of %) × T(hundredths of %) / 10^9, half-up.
        product = monthly_cents * _year_map(years, pct) * _h(taux)
        bound = (product + 500_000_000) // 1_000_000_000
        detail = pl.concat_str([pl.lit("maximum "), fr_number(bound), pl.lit(" €")])
        fraction = pl.when(_h(taux) < 100).then(pl.lit("taux_fraction"))  # 0,8 written for 80 %
        checks.append(
            _Check(
                code,
                "",
                _rate_ok(taux) & _amount_ok(amount) & bound.is_not_null() & (_h(amount) > bound),
                detail=detail,
                cause=fraction,
                causes=("taux_fraction",),
                valeur=taux,
            )
        )
    # W11 (v1.2): below half the gross minimum, M × P × T / 10^9 × 0.5 rounded half-up once.
    pct = {}
    for y in years:
        p = reference.bound_percent(W11_BOUND, date(y, 11, 1))
        pct[y] = int(p * 1000) if p is not None and (p * 1000) % 1 == 0 else None
    product = monthly_cents * _year_map(years, pct) * _h(taux)
    floor = (product + 1_000_000_000) // 2_000_000_000
    amount = "remuneration_garantie_nette"
    detail = pl.concat_str(
        [fr_number(_h(taux), False), pl.lit(" % (la moitié du minimum légal est "), fr_number(floor), pl.lit(" €)")]
    )
    checks.append(
        _Check(
            "W11", "", _rate_ok(taux) & _amount_ok(amount) & floor.is_not_null() & (_h(amount) < floor), detail=detail
        )
    )
    return checks


def _message(check: _Check) -> pl.Expr:
    """The message of a check, chosen row by row among its specific causes when it has some."""
    message = _render(check)
    if check.cause is None:
        return message
    for variant in reversed(check.causes):
        message = pl.when(check.cause == variant).then(_render(check, variant)).otherwise(message)
    return message


def _render(check: _Check, variant: str | None = None) -> pl.Expr:
    """The catalogue message (Rule.render's pieces) row by row: {champ} as the file names the field,
    {valeur} the value found (a NIR-shaped one masked), {detail} the check's own figure."""
    r = rule(check.code, check.variant if variant is None else variant)
    column = check.champ or r.field
    shown = check.valeur or column
    exprs: list[pl.Expr] = []
    for name, text in r.pieces():
        if not name:
            exprs.append(pl.lit(text))
        elif name == "champ":
            exprs.append(
                pl.when(pl.col(XML)).then(pl.lit(field_label(column, xml=True))).otherwise(pl.lit(field_label(column)))
                if column
                else pl.lit("")
            )
        elif name == "valeur":
            exprs.append(_masked(shown_value_expr(pl.col(shown))).fill_null("") if shown else pl.lit(""))
        elif name == "detail":
            exprs.append(_masked(check.detail).fill_null("") if check.detail is not None else pl.lit(""))
        else:
            exprs.append(pl.col("ligne").cast(pl.String))
    if len(exprs) == 1:
        return exprs[0]
    return pl.concat_str(exprs)


def _masked(text: pl.Expr) -> pl.Expr:
    """A value quoted in a message: anything NIR-shaped inside it masked (schemas/masking.py)."""
    return text.str.replace_all(NIR_SHAPED_RUST, NIR_MASKED_RUST).str.replace_all(LONG_RUN, LONG_RUN_MASKED_RUST)


def _anomalies(frame: pl.DataFrame, checks: list[_Check]) -> pl.DataFrame:
    masked = frame.with_columns([c.mask.fill_null(False).alias(f"_m{i}") for i, c in enumerate(checks)])
    # Most checks find nothing: build the (costly to plan) per-check branches only for those that hit,
    # over the few rows that have at least one hit.
    counts = masked.select(pl.col(f"_m{i}").sum() for i in range(len(checks))).row(0) if checks else ()
    hits = [i for i, n in enumerate(counts) if n]
    if hits:
        masked = masked.filter(pl.any_horizontal(pl.col(f"_m{i}") for i in hits))
    parts = []
    for i in hits:
        c = checks[i]
        r = rule(c.code, c.variant)
        parts.append(
            masked.lazy()
            .filter(pl.col(f"_m{i}"))
            .select(
                pl.col(LOT),
                pl.col("ligne").cast(pl.Int64),
                pl.col("nir"),
                pl.lit(c.code).alias("code"),
                pl.lit(r.severity).alias("gravite"),
                pl.lit(c.champ or r.field).alias("champ"),
                _message(c).alias("message"),
                pl.col("nom"),
                pl.col("prenoms"),
            )
        )
    schema = {LOT: pl.Int32(), **ANOMALY_SCHEMA}
    if not parts:
        return pl.DataFrame(schema=schema)
    out = pl.concat(parts, how="vertical").collect()
    return out.cast(schema).sort([LOT, "ligne", "code"], maintain_order=True)  # type: ignore[arg-type]


def _row_key(lot: pl.Expr, ligne: pl.Expr) -> pl.Expr:
    """One Int64 per record of a batch: (file of the batch, line)."""
    return lot.cast(pl.Int64) * (1 << 32) + ligne.cast(pl.Int64)


def _typed(frame: pl.DataFrame, kind: Kind, rejected: pl.Series) -> pl.DataFrame:
    exprs: list[pl.Expr] = [pl.col(LOT), pl.col("ligne").cast(pl.Int64)]
    for c in columns(kind):
        if c in DATE_COLUMNS:
            exprs.append(_d(c).alias(c))
        elif c == "annee_reference":
            exprs.append(pl.col("_year").alias(c))
        elif c == "cumul_milieu_ordinaire":
            exprs.append(pl.col("_cumul").alias(c))
        elif c in AMOUNT_COLUMNS:
            exprs.append(pl.when(_valid(c)).then(to_decimal(pl.col(c), AMOUNT_TYPE)).otherwise(None).alias(c))
        elif c in RATE_COLUMNS or c == HOURS_COLUMN:
            exprs.append(pl.when(_valid(c)).then(to_decimal(pl.col(c), RATE_TYPE)).otherwise(None).alias(c))
        else:
            exprs.append(pl.col(c).cast(pl.String))
    return frame.select(exprs).with_columns(
        _row_key(pl.col(LOT), pl.col("ligne")).is_in(rejected.implode()).alias("rejete")
    )


def validate_records(raw: pl.DataFrame, kind: Kind, as_of: date, reference: Reference) -> RecordCheck:
    """Every record rule on every record; a record with a BLOQUANTE anomaly is `rejete`.

    `raw` may hold the records of several files, told apart by a `_lot` column (LOT): a record is then
    (lot, ligne), R08 looks for a repeated NIR within its lot, and `typed` and `anomalies` keep `_lot`.
    """
    batched = LOT in raw.columns
    if not batched:
        raw = raw.with_columns(pl.lit(0, dtype=pl.Int32).alias(LOT))
    if XML not in raw.columns:
        raw = raw.with_columns(pl.lit(False).alias(XML))
    frame = _working_frame(raw.with_columns(pl.col(LOT).cast(pl.Int32)), kind)
    checks = _identity_checks(kind, reference) + _date_checks(kind, as_of) + _number_checks(kind)
    if kind == "RG":
        checks += _cumul_checks() + _bound_checks(frame, reference)
        lines = pl.col("ligne").cast(pl.String).str.join(", ").over(LOT, "nir")
        checks.append(
            _Check(
                "R08",
                "",
                _filled("nir") & (pl.len().over(LOT, "nir") > 1),
                detail=pl.concat_str([pl.lit("lignes "), lines]),
            )
        )
    if HIDDEN in frame.columns:
        checks.append(_Check("W12", "", pl.col(HIDDEN)))
    # A total row is not a worker: its only anomaly says to delete it (its other cells are not judged).
    worker = pl.col(TOTAL).is_null()
    checks = [replace(c, mask=c.mask & worker) for c in checks]
    checks.append(_Check("R01", "ligne_total", ~worker, valeur=TOTAL))
    anomalies = _anomalies(frame, checks)
    rejected = (
        anomalies.filter(pl.col("gravite") == BLOCKING)
        .select(_row_key(pl.col(LOT), pl.col("ligne")))
        .to_series()
        .unique()
    )
    typed = _typed(frame, kind, rejected)
    if not batched:
        return RecordCheck(typed=typed.drop(LOT), anomalies=anomalies.drop(LOT))
    return RecordCheck(typed=typed, anomalies=anomalies)
