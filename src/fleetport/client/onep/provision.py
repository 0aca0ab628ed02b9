"""The One Platform provisioning (fleet management) client: ``Provision``, call-compatible with
pyonep's.

Each method makes one HTTP request under ``/provision`` and returns a :class:`ProvisionResponse`;
nothing parses the body, which is CSV, plain text or form-encoded text as the platform sends it.
Network failures (refused connection, timeout) propagate as httpx exceptions
(``httpx.TransportError`` and its subclasses), not as One Platform errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import httpx

from fleetport.client.onep.exceptions import ProvisionException
from fleetport.client.onep.rpc import Transport

ACTIVATE = "/provision/activate"
DOWNLOAD = "/provision/download"
MANAGE_MODEL = "/provision/manage/model/"
MANAGE_CONTENT = "/provision/manage/content/"
REGISTER = "/provision/register"

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"

Form = Sequence[tuple[str, str | int | Sequence[str]]]


def _form(fields: Form) -> str:
    """Form-encodes in the given order; a list value repeats its key (``sn%5B%5D=a&sn%5B%5D=b``)."""
    return urlencode(fields, doseq=True)


def _model_options(aliases: bool, comments: bool, historical: bool) -> list[str]:
    flags = (("noaliases", aliases), ("nocomments", comments), ("nohistorical", historical))
    return [name for name, keep in flags if not keep]


class ProvisionResponse:
    """One provisioning answer: ``body`` (the text), ``response`` (the httpx.Response) and ``isok``
    (status below 400)."""

    def __init__(self, body: str, response: httpx.Response) -> None:
        self.body = body
        self.response = response
        self.isok = response.status_code < 400

    def status(self) -> int:
        return self.response.status_code

    def reason(self) -> str:
        return self.response.reason_phrase

    def __str__(self) -> str:
        return f"Status: {self.status()}, Reason: {self.reason()}, Body: {self.body}"

    def __repr__(self) -> str:
        return f"ProvisionResponse(status={self.status()}, body={self.body!r})"


class Provision:
    """A client for the provisioning API at ``http(s)://host:port/provision``.

    Args:
        host, port, https: where the server is; a leading ``https://`` in ``host`` is dropped. The
            default is plain HTTP on port 80.
        manage_by_cik: send the key as ``X-Exosite-CIK`` (True) or ``X-Exosite-Token`` (False).
        verbose: unused, accepted for compatibility.
        httptimeout: seconds to wait for a connection and for the answer.
        reuseconnection: keep one connection (close it with :meth:`close`) instead of one per request.
        raise_api_exceptions: raise :class:`~fleetport.client.onep.exceptions.ProvisionException` for a
            status of 400 or more instead of returning it.
        curldebug: log every request as a curl command at DEBUG on the ``fleetport.onep`` logger.
        manage_by_sharecode: :meth:`model_create` names the template by share code (``code=``)
            instead of by RID (``rid=``).
    """

    def __init__(
        self,
        host: str = "m2.exosite.com",
        port: str | int = "80",
        manage_by_cik: bool = True,
        verbose: bool = False,
        httptimeout: float = 5,
        https: bool = False,
        reuseconnection: bool = False,
        raise_api_exceptions: bool = False,
        curldebug: bool = False,
        manage_by_sharecode: bool = False,
    ) -> None:
        host = host.removeprefix("https://")
        self._manage_by_cik = manage_by_cik
        self._manage_by_sharecode = manage_by_sharecode
        self._verbose = verbose
        self._raise_api_exceptions = raise_api_exceptions
        self._transport = Transport(
            ("https://" if https else "http://") + host + ":" + str(port),
            timeout=httptimeout,
            reuse=reuseconnection,
            curldebug=curldebug,
        )

    def close(self) -> None:
        """Closes the kept connection (with ``reuseconnection``); the next call opens a new one."""
        self._transport.close()

    def _request(
        self,
        method: str,
        path: str,
        key: str,
        data: str | bytes = "",
        *,
        key_is_cik: bool | None = None,
        content_type: str | None = None,
    ) -> ProvisionResponse:
        """Sends ``data`` as the query string (GET) or as the body (POST, PUT, DELETE). POST bodies
        are form-encoded unless ``content_type`` says otherwise; PUT and DELETE carry none."""
        by_cik = self._manage_by_cik if key_is_cik is None else key_is_cik
        headers = {"X-Exosite-CIK" if by_cik else "X-Exosite-Token": key}
        content: str | bytes | None = None
        if method == "GET":
            if data:
                path += "?" + (data.decode() if isinstance(data, bytes) else data)
        else:
            content = data
            if not data:
                headers["Content-Length"] = "0"
            if method == "POST":
                headers["Content-Type"] = content_type or FORM_CONTENT_TYPE
        response = self._transport.request(method, path, content=content, headers=headers)
        answer = ProvisionResponse(response.text, response)
        if self._raise_api_exceptions and not answer.isok:
            raise ProvisionException(answer)
        return answer

    # -- content

    def content_create(
        self, key: str, model: str, contentid: str, meta: str, protected: bool = False
    ) -> ProvisionResponse:
        """Creates the content entry ``contentid`` of ``model``; ``protected`` limits it to the
        model's authorized serial numbers."""
        fields: list[tuple[str, str]] = [("id", contentid), ("meta", meta)]
        if protected is not False:
            fields.append(("protected", "true"))
        return self._request("POST", MANAGE_CONTENT + model + "/", key, _form(fields))

    def content_download(self, cik: str, vendor: str, model: str, contentid: str) -> ProvisionResponse:
        """Downloads a content blob as a device, always with the device's ``X-Exosite-CIK``."""
        query = _form([("vendor", vendor), ("model", model), ("id", contentid)])
        return self._request("GET", DOWNLOAD, cik, query, key_is_cik=True)

    def content_info(
        self, key: str, model: str, contentid: str, vendor: str | None = None
    ) -> ProvisionResponse:
        """Describes a content entry (CSV: type, size, updated, meta...): as its vendor, or as a
        device when ``vendor`` is given."""
        if not vendor:
            return self._request("GET", MANAGE_CONTENT + model + "/" + contentid, key)
        query = _form([("vendor", vendor), ("model", model), ("id", contentid), ("info", "true")])
        return self._request("GET", DOWNLOAD, key, query)

    def content_list(self, key: str, model: str) -> ProvisionResponse:
        """The content ids of a model, one per line."""
        return self._request("GET", MANAGE_CONTENT + model + "/", key)

    def content_remove(self, key: str, model: str, contentid: str) -> ProvisionResponse:
        """Deletes a content entry and its blob."""
        return self._request("DELETE", MANAGE_CONTENT + model + "/" + contentid, key)

    def content_upload(
        self, key: str, model: str, contentid: str, data: str | bytes, mimetype: str
    ) -> ProvisionResponse:
        """Stores ``data`` as the blob of a content entry, served later with ``mimetype``."""
        path = MANAGE_CONTENT + model + "/" + contentid
        return self._request("POST", path, key, data, content_type=mimetype)

    # -- models

    def model_create(
        self,
        key: str,
        model: str,
        sharecode: str,
        aliases: bool = True,
        comments: bool = True,
        historical: bool = True,
    ) -> ProvisionResponse:
        """Creates a model from a template client, named by RID (or by share code with
        ``manage_by_sharecode``); a flag set to False is sent as a ``no...`` option."""
        fields: Form = [
            ("model", model),
            ("code" if self._manage_by_sharecode else "rid", sharecode),
            ("options[]", _model_options(aliases, comments, historical)),
        ]
        return self._request("POST", MANAGE_MODEL, key, _form(fields))

    def model_info(self, key: str, model: str) -> ProvisionResponse:
        """A model's template and options, form-encoded (``rid=...&options[]=...``)."""
        return self._request("GET", MANAGE_MODEL + model, key)

    def model_list(self, key: str) -> ProvisionResponse:
        """The vendor's model names, one per line."""
        return self._request("GET", MANAGE_MODEL, key)

    def model_remove(self, key: str, model: str) -> ProvisionResponse:
        """Deletes a model."""
        fields = [("delete", "true"), ("model", model), ("confirm", "true")]
        return self._request("DELETE", MANAGE_MODEL + model, key, _form(fields))

    def model_update(
        self,
        key: str,
        model: str,
        clonerid: str,
        aliases: bool = True,
        comments: bool = True,
        historical: bool = True,
    ) -> ProvisionResponse:
        """Points a model at another template RID (always ``rid=``, whatever ``manage_by_sharecode``)."""
        fields: Form = [("rid", clonerid), ("options[]", _model_options(aliases, comments, historical))]
        return self._request("PUT", MANAGE_MODEL + model, key, _form(fields))

    # -- serial numbers

    def serialnumber_activate(self, model: str, serialnumber: str, vendor: str) -> ProvisionResponse:
        """Activates a serial number as a device: the body is the new CIK. Sends an empty key header."""
        fields = [("vendor", vendor), ("model", model), ("sn", serialnumber)]
        return self._request("POST", ACTIVATE, "", _form(fields))

    def serialnumber_add(self, key: str, model: str, sn: str, extra: str | None = None) -> ProvisionResponse:
        """Whitelists one serial number, with optional ``extra`` text."""
        fields = [("add", "true"), ("sn", sn)]
        if extra:
            fields.append(("extra", extra))
        return self._request("POST", MANAGE_MODEL + model + "/", key, _form(fields))

    def serialnumber_add_batch(self, key: str, model: str, sns: Sequence[str] = ()) -> ProvisionResponse:
        """Whitelists several serial numbers."""
        fields: Form = [("add", "true"), ("sn[]", list(sns))]
        return self._request("POST", MANAGE_MODEL + model + "/", key, _form(fields))

    def serialnumber_add_batch_csv(self, key: str, model: str, csv_string: str) -> ProvisionResponse:
        """Whitelists serial numbers given as CSV lines of ``<sn>,<extra>``."""
        path = MANAGE_MODEL + model + "/"
        return self._request("POST", path, key, csv_string, content_type=CSV_CONTENT_TYPE)

    def serialnumber_disable(self, key: str, model: str, serialnumber: str) -> ProvisionResponse:
        """Disables a serial number's client."""
        return self._request(
            "POST", MANAGE_MODEL + model + "/" + serialnumber, key, _form([("disable", "true")])
        )

    def serialnumber_enable(self, key: str, model: str, serialnumber: str, owner: str) -> ProvisionResponse:
        """Creates the serial number's client from the model under ``owner``; the body is its RID."""
        fields = [("enable", "true"), ("owner", owner)]
        return self._request("POST", MANAGE_MODEL + model + "/" + serialnumber, key, _form(fields))

    def serialnumber_info(
        self, key: str, model: str, serialnumber: str, actvtn_log: bool = False
    ) -> ProvisionResponse:
        """A serial number's ``<status>,<rid>,<extra>``, or its activation log with ``actvtn_log``."""
        path = MANAGE_MODEL + model + "/" + serialnumber
        return self._request("GET", path, key, "show=log" if actvtn_log else "")

    def serialnumber_list(
        self, key: str, model: str, offset: int = 0, limit: int = 1000, status: bool = False
    ) -> ProvisionResponse:
        """A page of a model's serial numbers as CSV; ``status`` adds each one's status column."""
        fields: list[tuple[str, str | int]] = [("offset", offset), ("limit", limit)]
        if status:
            fields.append(("status", "true"))
        return self._request("GET", MANAGE_MODEL + model + "/", key, _form(fields))

    def serialnumber_reenable(self, key: str, model: str, serialnumber: str) -> ProvisionResponse:
        """Issues a new CIK for the serial number's client, to be activated again."""
        return self._request(
            "POST", MANAGE_MODEL + model + "/" + serialnumber, key, _form([("enable", "true")])
        )

    def serialnumber_remap(self, key: str, model: str, serialnumber: str, oldsn: str) -> ProvisionResponse:
        """Moves the client of ``oldsn`` to ``serialnumber``."""
        fields = [("enable", "true"), ("oldsn", oldsn)]
        return self._request("POST", MANAGE_MODEL + model + "/" + serialnumber, key, _form(fields))

    def serialnumber_remove(self, key: str, model: str, serialnumber: str) -> ProvisionResponse:
        """Removes a serial number from the whitelist."""
        return self._request("DELETE", MANAGE_MODEL + model + "/" + serialnumber, key)

    def serialnumber_remove_batch(self, key: str, model: str, sns: Sequence[str]) -> ProvisionResponse:
        """Removes several serial numbers from the whitelist."""
        fields: Form = [("remove", "true"), ("sn[]", list(sns))]
        return self._request("POST", MANAGE_MODEL + model + "/", key, _form(fields))

    # -- vendors

    def vendor_register(self, key: str, vendor: str) -> ProvisionResponse:
        """Registers the vendor name ``vendor`` for the key's owner."""
        return self._request("POST", REGISTER, key, _form([("vendor", vendor)]))

    def vendor_show(self, key: str) -> ProvisionResponse:
        """The vendor name registered for a vendor token (always sent as ``X-Exosite-Token``)."""
        return self._request("GET", REGISTER, key, key_is_cik=False)

    def vendor_unregister(self, key: str, vendor: str) -> ProvisionResponse:
        """Unregisters a vendor name (the key is always sent as ``X-Exosite-Token``)."""
        fields = [("delete", "true"), ("vendor", vendor)]
        return self._request("POST", REGISTER, key, _form(fields), key_is_cik=False)
