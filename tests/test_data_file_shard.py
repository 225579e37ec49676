"""PreparedData.dataset(file_shard=...): one worker's share of a split, by input file.

Texts are row numbers, so a fake preprocessor turns each batch back into the rows it holds.
"""
import pytest

from tfclf import data
from tfclf.config import DataConfig

from file_shard_worker import SIZES, row_ids, write_shards


def rows_of(ds):
    return [int(i) for features, _ in ds for i in features["input_word_ids"][:, 0].numpy()]


def train_rows(prepared):
    return sorted(int(t) for texts, _ in prepared.chunks("train") for t in texts)


@pytest.mark.parametrize("stream", [False, True])
def test_the_shares_of_the_workers_hold_every_row_once_and_only_their_files(tmp_path, stream):
    prepared = data.prepare(DataConfig(data=str(write_shards(tmp_path / "shards")), stream=stream), seed=0)
    assert prepared.streaming is stream
    assert prepared.input_files("train") == prepared.input_files("test") == len(SIZES)
    everything = train_rows(prepared)
    assert len(everything) > 50
    for workers in (2, 3):
        shares = []
        for index in range(workers):
            ds = prepared.dataset("train", row_ids, batch_size=8, shuffle=True, seed=0,
                                  file_shard=(index, workers))
            share = rows_of(ds)
            assert share and {r // 100 % workers for r in share} == {index}, (workers, index)
            assert rows_of(ds) != share  # reshuffled every epoch, as the whole split is
            assert sorted(rows_of(ds)) == sorted(share)
            shares.append(share)
        assert sorted(r for share in shares for r in share) == everything
    # Streamed, a share's length is unknown (each worker counts only its own files).
    ds = prepared.dataset("train", row_ids, batch_size=8, shuffle=True, seed=0, file_shard=(0, 2))
    whole = prepared.dataset("train", row_ids, batch_size=8, shuffle=True, seed=0)
    assert int(whole.cardinality()) == -(-len(everything) // 8)
    assert int(ds.cardinality()) == (-2 if stream else -(-len(rows_of(ds)) // 8))


def test_a_streamed_worker_opens_only_its_own_files(tmp_path):
    folder = write_shards(tmp_path / "shards")
    prepared = data.prepare(DataConfig(data=str(folder), stream=True), seed=0)
    expected = [r for r in train_rows(prepared) if r // 100 in (0, 2, 4)]
    for i in (1, 3):  # worker 1's files: gone once prepare has read them
        (folder / f"part-{i:05d}.csv").unlink()
    ds = prepared.dataset("train", row_ids, batch_size=8, shuffle=True, seed=0, file_shard=(0, 2))
    assert sorted(rows_of(ds)) == expected
    with pytest.raises(Exception, match="part-00001.csv"):
        rows_of(prepared.dataset("train", row_ids, batch_size=8, shuffle=True, seed=0, file_shard=(1, 2)))


def test_class_folder_files_and_single_files(tmp_path):
    for label in ("neg", "pos"):
        for i in range(12):
            path = tmp_path / "tree" / label / f"{i}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(1000 * (label == "pos") + i))
    for stream in (False, True):
        prepared = data.prepare(DataConfig(data=str(tmp_path / "tree"), stream=stream), seed=0)
        assert prepared.input_files("train") == 24
        everything = train_rows(prepared)
        shares = [rows_of(prepared.dataset("train", row_ids, batch_size=4, shuffle=True, seed=1,
                                           file_shard=(i, 2))) for i in range(2)]
        assert sorted(shares[0] + shares[1]) == everything and shares[0] and shares[1]
        assert not set(shares[0]) & set(shares[1])
    (tmp_path / "one.csv").write_text("text,label\n" + "".join(f"{r},{'ab'[r % 2]}\n" for r in range(40)))
    assert data.prepare(DataConfig(data=str(tmp_path / "one.csv")), seed=0).input_files("train") == 1

