"""Message, part, attachment and legacy-URL normalization (spec/chat.md §3.2)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway_core.chat import (
    append_user_parts,
    attachment_kind,
    attachment_part,
    attachment_parts,
    legacy_url_parts,
    normalize_message,
    normalize_messages,
    normalize_part,
)
from gateway_core.errors import GatewayError
from gateway_core.types.messages import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    Message,
    MessageToolCall,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

# --- roles and content shapes (§3.2) -------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param("developer", "system", id="developer-is-system"),
        pytest.param("system", "system", id="system"),
        pytest.param("assistant", "assistant", id="assistant"),
        pytest.param("tool", "tool", id="tool"),
        pytest.param("user", "user", id="user"),
        pytest.param(None, "user", id="missing"),
        pytest.param("function", "user", id="other-value"),
        pytest.param(["system"], "user", id="non-string"),
    ],
)
def test_role(role: Any, expected: str) -> None:
    raw = {"content": "hi"} if role is None else {"role": role, "content": "hi"}
    assert normalize_message(raw).role == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("hello", "hello", id="string-kept"),
        pytest.param("", "", id="empty-string-kept"),
        pytest.param(None, None, id="null"),
        pytest.param(42, "42", id="integer-json-text"),
        pytest.param(1.5, "1.5", id="float-json-text"),
        pytest.param(True, "true", id="boolean-json-text"),
        pytest.param({"a": 1, "b": "é"}, '{"a":1,"b":"é"}', id="object-compact-json"),
        pytest.param([], [], id="empty-array"),
        pytest.param([{"type": "text", "text": "x"}], [TextPart(text="x")], id="array-parts"),
    ],
)
def test_content_shapes(content: Any, expected: Any) -> None:
    assert normalize_message({"role": "user", "content": content}).content == expected


def test_missing_content_is_null() -> None:
    assert normalize_message({"role": "assistant"}).content is None


def test_non_object_messages_are_dropped() -> None:
    messages = normalize_messages(["hi", 3, None, [], {"role": "user", "content": "kept"}])
    assert messages == [Message(role="user", content="kept")]


@pytest.mark.parametrize(
    ("raw", "tool_call_id", "name"),
    [
        pytest.param({"role": "tool", "tool_call_id": "call_1", "name": "f"}, "call_1", "f", id="strings-kept"),
        pytest.param({"role": "tool", "tool_call_id": 7, "name": ["f"]}, None, None, id="non-strings-dropped"),
    ],
)
def test_tool_call_id_and_name(raw: dict[str, Any], tool_call_id: str | None, name: str | None) -> None:
    message = normalize_message(raw)
    assert (message.tool_call_id, message.name) == (tool_call_id, name)


@pytest.mark.parametrize(
    ("tool_calls", "expected"),
    [
        pytest.param(
            [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            [MessageToolCall(id="c1", name="f", arguments='{"a": 1}')],
            id="string-arguments-kept-verbatim",
        ),
        pytest.param(
            [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"city": "Zürich", "n": [1]}}}],
            [MessageToolCall(id="c1", name="f", arguments='{"city":"Zürich","n":[1]}')],
            id="object-arguments-compact-json",
        ),
        pytest.param(
            [{"id": "c1", "function": {"name": "f"}}],
            [MessageToolCall(id="c1", name="f", arguments="{}")],
            id="missing-arguments-empty-object",
        ),
        pytest.param(
            [{"id": "c1", "function": {"name": "f", "arguments": "{}"}, "providerMetadata": {"sig": "x"}}],
            [MessageToolCall(id="c1", name="f", arguments="{}", provider_metadata={"sig": "x"})],
            id="provider-metadata-kept",
        ),
        pytest.param(
            [{"id": "c1", "function": {"name": "f", "arguments": "{}"}, "provider_metadata": {"sig": "y"}}],
            [MessageToolCall(id="c1", name="f", arguments="{}", provider_metadata={"sig": "y"})],
            id="provider-metadata-snake-case",
        ),
        pytest.param(
            [{"id": "c1", "name": "flat", "arguments": "{}"}],
            [MessageToolCall(id="c1", name="flat", arguments="{}")],
            id="flat-form-accepted",
        ),
        pytest.param(["x", {"id": "c1", "function": {"arguments": "{}"}}], None, id="invalid-calls-dropped"),
        pytest.param([], None, id="empty-array-absent"),
        pytest.param({"id": "c1"}, None, id="non-array-ignored"),
    ],
)
def test_tool_calls(tool_calls: Any, expected: list[MessageToolCall] | None) -> None:
    assert normalize_message({"role": "assistant", "tool_calls": tool_calls}).tool_calls == expected


def test_tool_call_without_id_gets_generated_id() -> None:
    message = normalize_message({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]})
    assert message.tool_calls is not None
    assert re.fullmatch(r"call_[0-9a-f]{24}", message.tool_calls[0].id)


# --- content parts (§3.2.1) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({"type": "text", "text": "a"}, TextPart(text="a"), id="text"),
        pytest.param({"type": "input_text", "text": "a"}, TextPart(text="a"), id="input_text"),
        pytest.param({"type": "output_text", "text": "a"}, TextPart(text="a"), id="output_text"),
        pytest.param({"type": "text"}, None, id="text-without-text-dropped"),
        pytest.param({"type": "text", "text": 5}, None, id="text-non-string-dropped"),
        pytest.param(
            {"type": "image_url", "image_url": "https://x/a.png"}, ImagePart(url="https://x/a.png"), id="image-string"
        ),
        pytest.param(
            {"type": "image_url", "image_url": {"url": "https://x/a", "detail": "high"}},
            ImagePart(url="https://x/a", detail="high"),
            id="image-object-detail",
        ),
        pytest.param(
            {"type": "image_url", "image_url": {"url": "https://x/a", "detail": "ultra"}},
            ImagePart(url="https://x/a", detail="auto"),
            id="image-invalid-detail-auto",
        ),
        pytest.param(
            {"type": "input_image", "image_url": "https://x/a", "detail": "low"},
            ImagePart(url="https://x/a", detail="low"),
            id="input_image-part-level-detail",
        ),
        pytest.param({"type": "image_url", "image_url": {"detail": "low"}}, None, id="image-missing-url-dropped"),
        pytest.param({"type": "input_image", "file_id": "file_1"}, None, id="input_image-file-id-dropped"),
        pytest.param({"type": "image_url", "image_url": ""}, None, id="image-empty-url-dropped"),
        pytest.param(
            {"type": "input_audio", "input_audio": "https://x/a.mp3"},
            AudioPart(url="https://x/a.mp3"),
            id="audio-string",
        ),
        pytest.param(
            {"type": "input_audio", "input_audio": {"url": "https://x/a"}},
            AudioPart(url="https://x/a"),
            id="audio-url-object",
        ),
        pytest.param(
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}},
            AudioPart(url="data:audio/mp3;base64,AAAA"),
            id="audio-data-format",
        ),
        pytest.param(
            {"type": "input_audio", "input_audio": {"data": "AAAA"}},
            AudioPart(url="data:audio/wav;base64,AAAA"),
            id="audio-data-default-wav",
        ),
        pytest.param(
            {"type": "input_audio", "input_audio": {"data": "data:audio/ogg;base64,AA"}},
            AudioPart(url="data:audio/ogg;base64,AA"),
            id="audio-data-already-url",
        ),
        pytest.param(
            {"type": "input_audio", "audio_url": "https://x/b.wav"},
            AudioPart(url="https://x/b.wav"),
            id="audio-audio_url",
        ),
        pytest.param({"type": "input_audio", "input_audio": {"format": "mp3"}}, None, id="audio-missing-dropped"),
        pytest.param(
            {"type": "video_url", "video_url": "https://x/v.mp4"}, VideoPart(url="https://x/v.mp4"), id="video-string"
        ),
        pytest.param(
            {"type": "input_video", "video_url": {"url": "https://x/v"}},
            VideoPart(url="https://x/v"),
            id="input_video-object",
        ),
        pytest.param({"type": "video_url"}, None, id="video-missing-dropped"),
        pytest.param(
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
            FilePart(url="data:application/pdf;base64,JVBE", filename="a.pdf", mime_type="application/pdf"),
            id="file-nested-data-url",
        ),
        pytest.param(
            {"type": "file", "file": {"file_data": "JVBE", "filename": "a.pdf"}},
            FilePart(url="data:application/pdf;base64,JVBE", filename="a.pdf", mime_type="application/pdf"),
            id="file-raw-base64-wrapped-by-filename",
        ),
        pytest.param(
            {"type": "file", "file": {"file_data": "AAAA"}},
            FilePart(url="data:application/octet-stream;base64,AAAA", mime_type="application/octet-stream"),
            id="file-raw-base64-no-name",
        ),
        pytest.param(
            {"type": "input_file", "file_url": "https://x/doc.pdf", "filename": "doc.pdf"},
            FilePart(url="https://x/doc.pdf", filename="doc.pdf", mime_type="application/pdf"),
            id="input_file-url",
        ),
        pytest.param(
            {"type": "input_file", "file_url": "https://x/blob"},
            FilePart(url="https://x/blob"),
            id="input_file-url-unknown-mime",
        ),
        pytest.param(
            {"type": "input_file", "file_data": "data:text/plain;base64,aGk="},
            FilePart(url="data:text/plain;base64,aGk=", mime_type="text/plain"),
            id="input_file-flat-file_data",
        ),
        pytest.param({"type": "file", "file": {"file_id": "file_1"}}, None, id="file-id-only-dropped"),
        pytest.param(
            {"type": "tool-call", "toolCallId": "c1", "toolName": "f", "input": {"a": 1}},
            ToolCallPart(id="c1", name="f", input={"a": 1}),
            id="tool-call",
        ),
        pytest.param(
            {"type": "tool_call", "name": "f", "args": [1]},
            ToolCallPart(name="f", input=[1]),
            id="tool_call-name-args",
        ),
        pytest.param({"type": "tool-call", "input": {}}, None, id="tool-call-without-name-dropped"),
        pytest.param(
            {"type": "tool-result", "toolCallId": "c1", "toolName": "f", "output": "ok"},
            ToolResultPart(id="c1", name="f", output="ok"),
            id="tool-result",
        ),
        pytest.param(
            {"type": "tool_result", "result": {"t": 20}},
            ToolResultPart(output={"t": 20}),
            id="tool_result-result",
        ),
        pytest.param(
            {"type": "refusal", "refusal": "no"},
            TextPart(text='{"type":"refusal","refusal":"no"}'),
            id="unknown-type-compact-json",
        ),
        pytest.param({"text": "x"}, TextPart(text='{"text":"x"}'), id="missing-type-compact-json"),
        pytest.param("bare", TextPart(text="bare"), id="bare-string-is-text"),
        pytest.param(7, TextPart(text="7"), id="number-json-text"),
        pytest.param(None, None, id="null-dropped"),
    ],
)
def test_part(raw: Any, expected: ContentPart | None) -> None:
    assert normalize_part(raw) == expected


# --- attachments (§3.2.3) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({"url": "https://x/a.png"}, ImagePart(url="https://x/a.png"), id="locator-url"),
        pytest.param({"uri": "https://x/a.png"}, ImagePart(url="https://x/a.png"), id="locator-uri"),
        pytest.param({"href": "https://x/a.png"}, ImagePart(url="https://x/a.png"), id="locator-href"),
        pytest.param({"image_url": "https://x/a.png"}, ImagePart(url="https://x/a.png"), id="locator-image_url"),
        pytest.param(
            {"image_url": {"url": "https://x/a.png"}}, ImagePart(url="https://x/a.png"), id="locator-image_url-object"
        ),
        pytest.param({"audio_url": "https://x/a.mp3"}, AudioPart(url="https://x/a.mp3"), id="locator-audio_url"),
        pytest.param({"video_url": "https://x/a.mp4"}, VideoPart(url="https://x/a.mp4"), id="locator-video_url"),
        pytest.param(
            {"dataUrl": "data:image/png;base64,AA"}, ImagePart(url="data:image/png;base64,AA"), id="locator-dataUrl"
        ),
        pytest.param(
            {"data_url": "data:audio/wav;base64,AA"}, AudioPart(url="data:audio/wav;base64,AA"), id="locator-data_url"
        ),
        pytest.param(
            {"url": "https://x/a.png", "href": "https://x/b.mp3"},
            ImagePart(url="https://x/a.png"),
            id="locator-first-present-wins",
        ),
        pytest.param(
            {"url": "", "href": "https://x/b.mp3"},
            AudioPart(url="https://x/b.mp3"),
            id="locator-empty-is-absent",
        ),
        pytest.param(
            {"base64": "AA", "mimeType": "image/png"},
            ImagePart(url="data:image/png;base64,AA"),
            id="base64-with-mime",
        ),
        pytest.param(
            {"b64_json": "AA"},
            FilePart(url="data:application/octet-stream;base64,AA", mime_type="application/octet-stream"),
            id="b64_json-without-mime",
        ),
        pytest.param(
            {"data": "data:video/mp4;base64,AA"}, VideoPart(url="data:video/mp4;base64,AA"), id="locator-data"
        ),
        pytest.param(
            {"base64": "AA", "data": "data:video/mp4;base64,BB", "mime_type": "image/jpeg"},
            ImagePart(url="data:image/jpeg;base64,AA"),
            id="base64-before-data",
        ),
        pytest.param(
            {"url": "https://x/a", "mime_type": "image/png"}, ImagePart(url="https://x/a"), id="mime-mime_type"
        ),
        pytest.param(
            {"url": "https://x/a", "contentType": "audio/mpeg"}, AudioPart(url="https://x/a"), id="mime-contentType"
        ),
        pytest.param(
            {"url": "https://x/a", "content_type": "video/webm"}, VideoPart(url="https://x/a"), id="mime-content_type"
        ),
        pytest.param(
            {"url": "https://x/a", "mimeType": "image/png", "mime_type": "audio/mpeg"},
            ImagePart(url="https://x/a"),
            id="mime-first-present-wins",
        ),
        pytest.param({"url": "https://x/a", "kind": "video"}, VideoPart(url="https://x/a"), id="explicit-kind"),
        pytest.param({"url": "https://x/a", "type": "audio"}, AudioPart(url="https://x/a"), id="explicit-type"),
        pytest.param(
            {"url": "https://x/a", "mediaType": "image/gif"}, ImagePart(url="https://x/a"), id="explicit-mediaType"
        ),
        pytest.param(
            {"url": "https://x/a", "media_type": "image"}, ImagePart(url="https://x/a"), id="explicit-media_type"
        ),
        pytest.param(
            {"url": "https://x/a.png", "detail": "high"},
            ImagePart(url="https://x/a.png", detail="high"),
            id="detail-high",
        ),
        pytest.param(
            {"url": "https://x/a.png", "detail": "low"}, ImagePart(url="https://x/a.png", detail="low"), id="detail-low"
        ),
        pytest.param(
            {"url": "https://x/a.png", "detail": "max"}, ImagePart(url="https://x/a.png"), id="detail-other-auto"
        ),
        pytest.param(
            {"url": "https://x/r.pdf", "name": "report.pdf", "mimeType": "application/pdf"},
            FilePart(url="https://x/r.pdf", filename="report.pdf", mime_type="application/pdf"),
            id="pdf-file-part",
        ),
        pytest.param(
            {"url": "https://x/download?id=3", "filename": "report.pdf"},
            FilePart(url="https://x/download?id=3", filename="report.pdf", mime_type="application/pdf"),
            id="pdf-by-filename",
        ),
        pytest.param(
            {"url": "data:application/json;base64,e30=", "name": "d"},
            FilePart(url="data:application/json;base64,e30=", filename="d", mime_type="application/json"),
            id="json-file-part",
        ),
        pytest.param(
            {"uri": "s3://bucket/blob", "name": "blob.bin"},
            FilePart(url="s3://bucket/blob", filename="blob.bin"),
            id="file-kind-non-http",
        ),
        pytest.param(
            {"url": "https://x/notes.txt", "text": "the notes"},
            TextPart(text="the notes"),
            id="text-wins-for-url-kind",
        ),
        pytest.param({"content": "inline"}, TextPart(text="inline"), id="text-from-content"),
        pytest.param({"text": "a", "content": "b"}, TextPart(text="a"), id="text-first-present-wins"),
        pytest.param({"type": "image", "text": "alt"}, TextPart(text="alt"), id="image-without-locator-uses-text"),
        pytest.param({"url": "https://x/page"}, TextPart(text="Attachment url: https://x/page"), id="url-kind-line"),
        pytest.param(
            {"url": "https://x/page", "name": "Page"},
            TextPart(text="Attachment url:Page: https://x/page"),
            id="url-kind-line-with-name",
        ),
        pytest.param(
            {"url": "https://x/readme", "mimeType": "text/markdown", "filename": "README"},
            TextPart(text="Attachment text:README: https://x/readme"),
            id="text-kind-line",
        ),
        pytest.param({"type": "image"}, TextPart(text='Attachment: {"type":"image"}'), id="other-object-json"),
        pytest.param({"foo": 1}, TextPart(text='Attachment: {"foo":1}'), id="unknown-object-json"),
        pytest.param({}, None, id="empty-object-dropped"),
        pytest.param("", None, id="empty-string-dropped"),
        pytest.param(5, None, id="number-dropped"),
        pytest.param(None, None, id="null-dropped"),
        pytest.param(["https://x/a.png"], None, id="array-dropped"),
        pytest.param("https://x/a.png", ImagePart(url="https://x/a.png"), id="string-image-url"),
        pytest.param("data:audio/mpeg;base64,AA", AudioPart(url="data:audio/mpeg;base64,AA"), id="string-data-url"),
        pytest.param("https://x/article", TextPart(text="Attachment url: https://x/article"), id="string-http-url"),
    ],
)
def test_attachment_part(raw: Any, expected: ContentPart | None) -> None:
    assert attachment_part(raw) == expected


@pytest.mark.parametrize(
    ("explicit", "mime", "name", "locator", "expected"),
    [
        pytest.param(None, "image/png", None, "x", "image", id="image-mime"),
        *(
            pytest.param(None, None, None, f"https://x/f{ext}", "image", id=f"image-ext{ext}")
            for ext in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".heic", ".svg")
        ),
        pytest.param("image", None, None, None, "image", id="image-kind"),
        pytest.param("input_image", None, None, "https://x/a", "image", id="image-kind-contains"),
        pytest.param(None, "audio/mpeg", None, "x", "audio", id="audio-mime"),
        *(
            pytest.param(None, None, None, f"https://x/f{ext}", "audio", id=f"audio-ext{ext}")
            for ext in (".mp3", ".m4a", ".wav", ".ogg", ".opus", ".flac", ".aac", ".aif", ".aiff")
        ),
        pytest.param("audio", None, None, None, "audio", id="audio-kind"),
        pytest.param(None, "video/mp4", None, "x", "video", id="video-mime"),
        *(
            pytest.param(None, None, None, f"https://x/f{ext}", "video", id=f"video-ext{ext}")
            for ext in (".mp4", ".mov", ".webm", ".mkv", ".avi", ".mpeg", ".mpg")
        ),
        pytest.param("video", None, None, None, "video", id="video-kind"),
        pytest.param(None, "application/pdf", None, "x", "pdf", id="pdf-mime"),
        pytest.param(None, None, None, "https://x/a.pdf", "pdf", id="pdf-ext"),
        pytest.param("pdf", None, None, None, "pdf", id="pdf-kind"),
        pytest.param(None, "application/json", None, "https://x/a", "json", id="json-mime"),
        pytest.param("json", None, None, None, "json", id="json-kind"),
        pytest.param(None, None, None, "https://x/a.json", "url", id="json-has-no-ext-rule"),
        pytest.param(None, "text/plain", None, "https://x/a", "text", id="text-mime"),
        pytest.param("text", None, None, None, "text", id="text-kind"),
        pytest.param(None, None, None, "https://x/a", "url", id="https-url"),
        pytest.param(None, None, None, "HTTP://X/A", "url", id="http-url-any-case"),
        pytest.param(None, None, None, "ftp://x/a", "file", id="other-scheme-file"),
        pytest.param(None, None, None, None, "file", id="nothing-file"),
        pytest.param(None, None, None, "HTTPS://X/PHOTO.PNG", "image", id="case-insensitive-ext"),
        pytest.param(None, None, None, "https://x/a.png?sig=1", "image", id="query-suffix-ignored"),
        pytest.param(None, None, None, "https://x/a.mp3#t=10", "audio", id="fragment-suffix-ignored"),
        pytest.param(None, None, None, "https://x/a.mov?x=1#y", "video", id="query-and-fragment-ignored"),
        pytest.param(None, None, None, "https://x/a?f=b.png", "url", id="ext-inside-query-not-matched"),
        pytest.param(None, None, None, "https://x/a.png/view", "url", id="ext-not-at-end"),
        pytest.param(None, None, "photo.webp", "https://x/get?id=1", "image", id="ext-from-name"),
        pytest.param(None, None, None, "https://cdn/image/123", "image", id="image-slash-anywhere"),
        pytest.param("text", "image/png", None, None, "image", id="image-rule-before-text"),
        pytest.param(None, "text/plain", None, "https://x/a.wav", "audio", id="audio-ext-before-text-mime"),
        pytest.param(None, "application/pdf", None, "https://x/a.mp4", "video", id="video-before-pdf"),
    ],
)
def test_attachment_kind(
    explicit: str | None, mime: str | None, name: str | None, locator: str | None, expected: str
) -> None:
    assert attachment_kind(explicit, mime, name, locator) == expected


def test_attachment_parts_order_and_drops() -> None:
    body = {"attachments": ["https://x/a.png", 3, {}, {"text": "t"}], "attachment": "https://x/b.mp3"}
    assert attachment_parts(body) == [
        ImagePart(url="https://x/a.png"),
        TextPart(text="t"),
        AudioPart(url="https://x/b.mp3"),
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"attachments": "https://x/a.png"}, "attachments", id="attachments-not-array"),
        pytest.param({"attachments": {"url": "https://x"}}, "attachments", id="attachments-object"),
        pytest.param({"attachment": 5}, "attachment", id="attachment-number"),
        pytest.param({"attachment": ["https://x"]}, "attachment", id="attachment-array"),
        pytest.param({"image_url": {"url": "https://x"}}, "image_url", id="image_url-object"),
        pytest.param({"audio_url": 1}, "audio_url", id="audio_url-number"),
        pytest.param({"video_url": True}, "video_url", id="video_url-boolean"),
    ],
)
def test_attachment_field_types(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as info:
        attachment_parts(body) + legacy_url_parts(body)
    assert (info.value.status, info.value.code, info.value.param) == (400, "invalid_request", param)


def test_null_attachment_fields_are_absent() -> None:
    body = {"attachments": None, "attachment": None, "image_url": None, "audio_url": None, "video_url": None}
    assert attachment_parts(body) == []
    assert legacy_url_parts(body) == []


# --- legacy URLs (§3.2.4) and the target message (§3.2.2) -----------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"video_url": "https://x/v", "audio_url": "https://x/a", "image_url": "https://x/i"},
            [ImagePart(url="https://x/i"), AudioPart(url="https://x/a"), VideoPart(url="https://x/v")],
            id="image-audio-video-order",
        ),
        pytest.param({"audio_url": "https://x/a"}, [AudioPart(url="https://x/a")], id="audio-only"),
        pytest.param({"image_url": ""}, [], id="empty-string-skipped"),
        pytest.param({}, [], id="none"),
    ],
)
def test_legacy_url_parts(body: dict[str, Any], expected: list[ContentPart]) -> None:
    assert legacy_url_parts(body) == expected


_IMG = ImagePart(url="https://x/i.png")


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param(
            [
                Message(role="user", content="first"),
                Message(role="assistant", content="a"),
                Message(role="user", content="last"),
            ],
            [
                Message(role="user", content="first"),
                Message(role="assistant", content="a"),
                Message(role="user", content=[TextPart(text="last"), _IMG]),
            ],
            id="last-user-string-becomes-text-part",
        ),
        pytest.param(
            [Message(role="user", content="q"), Message(role="assistant", content="a")],
            [Message(role="user", content=[TextPart(text="q"), _IMG]), Message(role="assistant", content="a")],
            id="last-user-not-last-message",
        ),
        pytest.param(
            [Message(role="user", content=[TextPart(text="p")])],
            [Message(role="user", content=[TextPart(text="p"), _IMG])],
            id="parts-extended",
        ),
        pytest.param(
            [Message(role="user", content=None)],
            [Message(role="user", content=[_IMG])],
            id="null-content",
        ),
        pytest.param(
            [Message(role="user", content="")],
            [Message(role="user", content=[_IMG])],
            id="empty-string-content-dropped",
        ),
        pytest.param(
            [Message(role="system", content="s")],
            [Message(role="system", content="s"), Message(role="user", content=[_IMG])],
            id="no-user-message-appends-one",
        ),
        pytest.param([], [Message(role="user", content=[_IMG])], id="no-messages"),
    ],
)
def test_append_user_parts(messages: list[Message], expected: list[Message]) -> None:
    assert append_user_parts(messages, [_IMG]) == expected


def test_append_nothing_leaves_messages() -> None:
    messages = [Message(role="user", content="q")]
    assert append_user_parts(messages, []) == messages
