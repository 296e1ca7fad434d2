"""An installed Orchestra must carry every template, static file and migration."""

import configparser
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_data_files_list_every_resource_file():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    listed = set()
    for target, patterns in parser["options.data_files"].items():
        for pattern in patterns.split():
            for path in glob.glob(os.path.join(ROOT, pattern)):
                if os.path.isfile(path):
                    relative = os.path.relpath(path, ROOT)
                    assert target == "share/orchestra/" + os.path.dirname(relative)
                    listed.add(relative)
    present = set()
    for folder in ("templates", "static", "sql"):
        for dirpath, _, filenames in os.walk(os.path.join(ROOT, folder)):
            present.update(os.path.relpath(os.path.join(dirpath, f), ROOT) for f in filenames)
    assert present - listed == set(), "add these to [options.data_files] in setup.cfg"
