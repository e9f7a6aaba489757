"""Wire formats of the speed-test and survey JSON API, for ``/openapi.json`` (the views in
:mod:`.views` build plain objects; tests decode real answers with these)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class UseCaseLimits(msgspec.Struct):
    """What a connection needs for one use (the page judges the results by these)."""

    key: str
    label: str
    min_download: float  # Mbit/s
    min_upload: float  # Mbit/s
    max_latency: float  # ms
    max_loss: float  # %
    weights: dict[str, float]  # of the download, upload, latency and loss requirements
    weight: float  # of the use in the overall score


class FormOption(msgspec.Struct):
    value: str
    label: str


class FormField(msgspec.Struct, omit_defaults=True):
    """One question; the keys that do not apply to its type are left out."""

    name: str
    label: str
    type: Literal["select", "multi-select", "text", "number", "checkbox"]
    required: bool
    options: list[FormOption] | msgspec.UnsetType = msgspec.UNSET  # select, multi-select
    min: float | msgspec.UnsetType = msgspec.UNSET
    max: float | msgspec.UnsetType = msgspec.UNSET
    unit: str | msgspec.UnsetType = msgspec.UNSET
    help: str | msgspec.UnsetType = msgspec.UNSET
    max_length: int | msgspec.UnsetType = msgspec.UNSET  # text


class SurveyConsent(msgspec.Struct):
    text: str
    required: bool


class ChallengeConsent(msgspec.Struct):
    text: str  # the optional box: the test may be given to a regulator as evidence


class SurveyForm(msgspec.Struct):
    name: str
    title: str
    consent: SurveyConsent
    fields: list[FormField]
    challenge_consent: ChallengeConsent


class SpeedtestConfig(msgspec.Struct):
    mode: Literal["local", "mlab"]
    server: str | None  # host:port of a separate ndt7 server; null: this host
    tokens_required: bool
    token_ttl: int  # seconds
    client_name: str
    client_version: str
    vendor: str  # path of the ndt7 browser client's files
    form: SurveyForm
    use_cases: list[UseCaseLimits]
    isp_guess: str | None


class SpeedtestToken(msgspec.Struct):
    token: str
    expires: int  # seconds since the epoch


_Count = Annotated[float, msgspec.Meta(ge=0)]


class ReportedTcpInfo(msgspec.Struct):
    """The TCPInfo of M-Lab's last measurement (mode mlab); other keys are ignored."""

    BytesAcked: _Count | None = None
    BytesReceived: _Count | None = None
    BytesSent: _Count | None = None
    BytesRetrans: _Count | None = None
    ElapsedTime: _Count | None = None  # microseconds; needed in mode mlab
    MinRTT: _Count | None = None


class SubtestRef(msgspec.Struct):
    """A subtest, by the UUID ndt7's ConnectionInfo reported; other keys are ignored."""

    uuid: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
    tcpinfo: ReportedTcpInfo | None = None  # needed in mode mlab, ignored in mode local


class SurveyLocation(msgspec.Struct):
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy: Annotated[float, msgspec.Meta(ge=0, le=1e7)] | None = None  # metres


_Answer = str | float | bool | list[str] | None
_Download = Annotated[
    SubtestRef | None,
    msgspec.Meta(examples=[{"uuid": "speedtest-1_1700000000_00000000000004D2"}]),
]
_Upload = Annotated[
    SubtestRef | None,
    msgspec.Meta(examples=[{"uuid": "speedtest-1_1700000000_00000000000004D3"}]),
]


class SurveySubmission(msgspec.Struct, forbid_unknown_fields=True):
    """The survey's answers, linked to the download and/or upload subtest just run."""

    # Absent answers and consent count as {} and false; no default is written here so that
    # the /api page's curl example takes the examples instead.
    answers: (
        Annotated[
            dict[str, _Answer],
            msgspec.Meta(
                description="Field name: answer, as the form of the speed-test settings asks.",
                examples=[
                    {
                        "isp": "Example Broadband",
                        "connection_type": "wired",
                        "cost_of_service": "25_50",
                    }
                ],
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    consent: (
        Annotated[bool, msgspec.Meta(description="Absent: false.", examples=[True])]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    challenge_consent: (
        Annotated[
            bool,
            msgspec.Meta(
                description="The separate, optional yes to giving this test (location "
                "included) to a regulator as evidence in a coverage challenge. Absent: false.",
                examples=[False],
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    download: _Download = None
    upload: _Upload = None
    location: SurveyLocation | None = None  # the browser's position


class SurveyLinks(msgspec.Struct):
    download: int | None  # the measurement's id; null: not linked
    upload: int | None


class SurveyCreated(msgspec.Struct):
    id: int
    measurements: SurveyLinks
