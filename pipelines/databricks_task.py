"""One ecomix step as a Databricks `spark_python_task`: the task's parameters are ecomix's
arguments. The binary is taken from ECOMIX_BIN (set on the job cluster), by default a Unity
Catalog volume."""
import os
import subprocess
import sys

binary = os.environ.get("ECOMIX_BIN", "/Volumes/energie/ecomix/bin/ecomix")
sys.exit(subprocess.call([binary, *sys.argv[1:]]))
