"""CDS Hooks 2.0 JWT bearer authentication.

The EHR signs a JWT for each call (CDS Hooks 2.0, "Trusting CDS Clients"): ``iss`` (the EHR,
checked against the allowlist), ``aud`` (the URL of the endpoint called), ``exp``, ``iat``,
``jti`` (unique per token), signed with an asymmetric key (ES384, RS384 and others of
``ServiceConfig.algorithms``; ``none`` and HMAC never) whose public half is in the
configured JWKS: a file read at start, or an https URL read at start and again when a token
names a key id not yet known (at most once a minute). ``jku`` headers are not followed: only
configured keys are trusted.

A ``jti`` seen before is refused until the token it came with expires. The ``jti``s are
kept in memory per process, or, with ``ServiceConfig.replay_dir`` (``spinerules serve
--workers N`` makes one), as one empty file per token in that folder, created with
``O_CREAT | O_EXCL`` (atomic across processes: of two workers seeing the same token, one
creation fails) and stamped with the token's expiry, so that every worker refuses a token any
of them has seen; expired entries are removed every 30 seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import jwt

from spinerules.service.config import ServiceConfig
from spinerules.service.errors import ServiceError

log = logging.getLogger("spinerules.service")

LEEWAY = 30  # seconds of clock skew tolerated on exp and iat
_REFETCH_EVERY = 60.0


def _unauthorized(code: str, message: str) -> ServiceError:
    return ServiceError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Checks CDS Hooks bearer tokens against the config's issuers and keys."""

    def __init__(self, config: ServiceConfig) -> None:
        self.issuers = frozenset(config.issuers)
        self.algorithms = list(config.algorithms)
        self.source = config.jwks
        self._keys: dict[str | None, Any] = {}
        self._fetched = 0.0
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}  # jti -> expiry (epoch seconds)
        self._next_purge = 0.0
        self.replay_dir = config.replay_dir
        if self.source is not None:
            try:
                self._load_keys()
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                if not self.remote:
                    raise ValueError(f"cannot read the JWKS file {self.source}: "
                                     f"{exc}") from None
                # a key server down at start: tried again when a token arrives
                log.warning("JWKS %s not read at start (%s); retried on the first token",
                            self.source, type(exc).__name__)
                self._fetched = time.monotonic() - _REFETCH_EVERY

    @property
    def remote(self) -> bool:
        return self.source is not None and self.source.startswith(("https://", "http://"))

    def _load_keys(self) -> None:
        assert self.source is not None
        if self.remote:
            import httpx

            response = httpx.get(self.source, timeout=5.0, follow_redirects=False)
            response.raise_for_status()
            data = response.json()
        else:
            data = json.loads(Path(self.source).read_text(encoding="utf-8"))
        keys: dict[str | None, Any] = {}
        for jwk in jwt.PyJWKSet.from_dict(data).keys:
            keys[jwk.key_id] = jwk.key
        self._keys = keys
        self._fetched = time.monotonic()

    def _key(self, kid: str | None) -> Any:
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None and self.remote and time.monotonic() - self._fetched > _REFETCH_EVERY:
            with self._lock:
                try:
                    self._load_keys()
                except Exception:  # the key set stays as it was
                    self._fetched = time.monotonic()
            key = self._keys.get(kid)
        if key is None:
            raise _unauthorized("unknown_key", "the token's signing key (kid) is not in the "
                                "configured JWKS")
        return key

    def check(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims, or a 401 ``ServiceError`` saying what is wrong."""
        if not authorization:
            raise _unauthorized("missing_token", "CDS Hooks calls need an Authorization: "
                                "Bearer <JWT> header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing_token", "the Authorization header is not "
                                "`Bearer <JWT>`")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _unauthorized("invalid_token", "the bearer token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _unauthorized("bad_algorithm", f"JWT algorithm {str(alg)[:20]!r} is not "
                                f"accepted (accepted: {', '.join(self.algorithms)})")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self.issuers:
            raise _unauthorized("unknown_issuer", f"the token's issuer {str(iss)[:100]!r} is "
                                "not an accepted issuer")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=audience, issuer=iss, leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token_expired", "the token has expired") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("wrong_audience", f"the token's aud is not this endpoint "
                                f"({audience})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _unauthorized("invalid_token", f"the token has no `{exc.claim}` "
                                "claim") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("invalid_token", "the token is not valid yet (iat or nbf in "
                                "the future)") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized("invalid_token", f"the token is not valid: "
                                f"{type(exc).__name__}") from None
        self._once(str(claims["jti"]), float(claims["exp"]))
        return claims

    def _once(self, jti: str, exp: float) -> None:
        if self.replay_dir is not None:
            self._once_shared(jti, exp)
            return
        now = time.time()
        with self._lock:
            if now >= self._next_purge:
                self._seen = {k: v for k, v in self._seen.items() if v + LEEWAY > now}
                self._next_purge = now + 30
            seen = self._seen.get(jti)
            if seen is not None and seen + LEEWAY > now:
                raise _unauthorized("token_replayed", "this token (jti) was already used; "
                                    "sign a new one for each call")
            self._seen[jti] = exp

    def _once_shared(self, jti: str, exp: float) -> None:
        assert self.replay_dir is not None
        now = time.time()
        if now >= self._next_purge:
            self._next_purge = now + 30
            self._purge(now)
        name = os.path.join(self.replay_dir, hashlib.sha256(jti.encode()).hexdigest())
        try:
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                seen = os.stat(name).st_mtime
            except FileNotFoundError:  # purged between the two calls: expired
                seen = 0.0
            if seen + LEEWAY > now:
                raise _unauthorized("token_replayed", "this token (jti) was already used; "
                                    "sign a new one for each call") from None
            os.utime(name, (exp, exp))  # an expired entry: the token is new again
            return
        os.close(fd)
        os.utime(name, (exp, exp))

    def _purge(self, now: float) -> None:
        assert self.replay_dir is not None
        try:
            with os.scandir(self.replay_dir) as entries:
                for entry in entries:
                    try:
                        if entry.stat().st_mtime + LEEWAY <= now:
                            os.unlink(entry.path)
                    except FileNotFoundError:
                        pass
        except FileNotFoundError:
            os.makedirs(self.replay_dir, mode=0o700, exist_ok=True)
