# Sensirion I2C conventions shared by the SHT4x, SCD4x and SPS30 drivers (docs/references.md
# §S.0): 16-bit words MSB first, each followed by a CRC-8 (polynomial 0x31, init 0xFF, no
# reflection, no final XOR; datasheet vector CRC(0xBEEF) = 0x92); commands carry no CRC,
# data words written to the part do (SCD4x datasheet §3.2). Integer work only, no allocation.

from sensor import SensorError


def crc8(buf, start, n):
    """CRC-8 of buf[start:start + n] (§S.0)."""
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def check_words(buf, nwords, name):
    """SensorError unless every word of buf (word, word, CRC triplets) has its CRC."""
    for i in range(nwords):
        j = 3 * i
        if crc8(buf, j, 2) != buf[j + 2]:
            raise SensorError("%s: CRC error in word %d" % (name, i))


def word(buf, i):
    """The i-th data word of a (word, word, CRC) triplet buffer."""
    return (buf[3 * i] << 8) | buf[3 * i + 1]


def put_command(cmd, code, value=None):
    """Fill a 2-byte command (bytearray(2)) or a 5-byte command with one data word + CRC."""
    cmd[0] = code >> 8
    cmd[1] = code & 0xFF
    if value is not None:
        cmd[2] = (value >> 8) & 0xFF
        cmd[3] = value & 0xFF
        cmd[4] = crc8(cmd, 2, 2)


def scaled(w, mul, div, offset):
    """offset + w * mul / div in hundredths, in small integers only (no bignum on the
    ESP32's 31-bit small ints): the SHT/SCD conversion T = -45 + 175 * w / 65535 etc."""
    q = w * mul  # <= 65535 * 175
    return offset * 100 + (q // div) * 100 + ((q % div) * 100 + div // 2) // div
