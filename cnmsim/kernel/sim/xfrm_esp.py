"""ESP (RFC 4303) with AES-GCM (RFC 4106), byte-exact as Linux's esp4 + rfc4106(gcm(aes)) builds it.

    ESP = SPI(4) | seq(4) | IV(8) | AES-GCM( payload | padding | pad-len(1) | next-header(1) ) | ICV

The key material is the AES key followed by a 4-byte salt; the GCM nonce is salt ‖ IV and the
associated data SPI ‖ seq.  Linux's seqiv makes the IV the 64-bit sequence number XOR a random
per-SA value; padding aligns the ciphertext to 4 bytes (GCM's block size is 1) and counts
1, 2, 3 …; the ICV is the GCM tag truncated to `icv_len` bits (64 for Docker).  Real AES-GCM, so
a capture decrypts in Wireshark or with scapy's SecurityAssociation given the key.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any

ESP_HDR = 8  # SPI + sequence number
IV_LEN = 8  # rfc4106 explicit IV
SALT_LEN = 4


class IntegrityError(Exception):
    """The ICV did not verify (wrong key, or the packet was altered)."""


def overhead(payload_len: int, icv_len: int = 8) -> int:
    """Bytes ESP adds to a transport-mode payload: header, IV, padding, trailer, ICV."""
    return ESP_HDR + IV_LEN + _pad(payload_len) + 2 + icv_len


def _pad(n: int) -> int:
    return -(n + 2) % 4


@lru_cache(maxsize=256)
def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def encrypt(key: bytes, spi: int, seq: int, iv: bytes, next_header: int, payload: bytes,
            icv_len: int = 8) -> bytes:
    """The ESP bytes (from the SPI on) carrying `payload` whose protocol is `next_header`."""
    aes, salt = key[:-SALT_LEN], key[-SALT_LEN:]
    padlen = _pad(len(payload))
    plain = payload + bytes(range(1, padlen + 1)) + bytes((padlen, next_header))
    aad = struct.pack("!II", spi, seq)
    sealed = _aead(aes).encrypt(salt + iv, plain, aad)  # ciphertext ‖ 16-byte tag
    return aad + iv + sealed[:-16] + sealed[-16:][:icv_len]


def decrypt(key: bytes, esp: bytes, icv_len: int = 8) -> tuple[int, int, int, bytes]:
    """(spi, seq, next_header, payload) of ESP bytes; IntegrityError when the ICV is wrong."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(esp) < ESP_HDR + IV_LEN + 2 + icv_len:
        raise IntegrityError("ESP packet too short")
    spi, seq = struct.unpack("!II", esp[:ESP_HDR])
    iv = esp[ESP_HDR:ESP_HDR + IV_LEN]
    body, tag = esp[ESP_HDR + IV_LEN:-icv_len], esp[-icv_len:]
    aes, salt = key[:-SALT_LEN], key[-SALT_LEN:]
    # a truncated tag needs the classic interface (AESGCM only takes 16-byte tags)
    dec = Cipher(algorithms.AES(aes), modes.GCM(salt + iv, tag, min_tag_length=icv_len)).decryptor()
    dec.authenticate_additional_data(esp[:ESP_HDR])
    try:
        plain = dec.update(body) + dec.finalize()
    except InvalidTag:
        raise IntegrityError("ICV mismatch") from None
    padlen, nh = plain[-2], plain[-1]
    return spi, seq, nh, plain[:-2 - padlen]
