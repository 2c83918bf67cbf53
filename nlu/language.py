"""Language identification: English or Indonesian (regional Indonesian counts as id)."""

from __future__ import annotations

from nlu.normalise import Normalised

# Function words and emergency words that only one of the two languages uses.
ENGLISH = frozenset(
    "the a an is are was were there my our your his her their it this that please help "
    "fire accident someone somebody people person house street road near at in on of and "
    "with has have not breathing hurt injured bleeding need we i he she they yes no thanks "
    "thank you hello hi what where when how can cannot stuck trapped flood crash car hit "
    "send come quick quickly now our's be been being do does did broken collapsed missing "
    "drowning snake police ambulance emergency me us hurry robbed robbery thief earthquake "
    "landslide bleeding unconscious fainted dying dead burning smoke crashed".split()
)
INDONESIAN = frozenset(
    "ada di yang dan dengan tidak sudah belum tolong saya kami rumah jalan orang ini itu "
    "apa mana sekarang cepat kebakaran kecelakaan banjir longsor dekat depan belakang desa "
    "kecamatan kabupaten kota korban luka pingsan bapak ibu anak ke dari untuk iya terimakasih "
    "halo selamat pagi siang malam apinya airnya gede besar banyak lagi mohon pak bu kak".split()
)


def identify(normalised: Normalised) -> tuple[str, bool]:
    """`en` when English words outnumber Indonesian ones, else `id`; and whether the words
    of only one language were seen (then even a one-word message says which)."""
    words = [t.text for t in normalised.tokens]
    english = sum(w in ENGLISH for w in words)
    indonesian = sum(w in INDONESIAN for w in words)
    language = "en" if english > indonesian else "id"
    return language, (english == 0) != (indonesian == 0)
