"""Writes the rows given as JSON on stdin into a BIFF .xls (xlwt) and an .xlsx (openpyxl), with
dates and times as real date/time cells, numbers as numbers, tokens as text, and RTE's
disclaimer as a last row: the shape of an eCO2mix file opened and saved by Excel."""
import datetime
import json
import sys

import openpyxl
import xlwt

out_dir = sys.argv[1]
spec = json.load(sys.stdin)
header, rows, disclaimer = spec["header"], spec["rows"], spec["disclaimer"]


def cell(value, column):
    if column == "Date":
        return datetime.datetime.strptime(value, "%Y-%m-%d")
    if column == "Heures":
        return datetime.datetime.strptime(value, "%H:%M").time()
    return value


book = xlwt.Workbook()
sheet = book.add_sheet("eCO2mix")
date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
time_style = xlwt.easyxf(num_format_str="hh:mm")
for c, label in enumerate(header):
    sheet.write(0, c, label)
for r, row in enumerate(rows, start=1):
    for c, (label, value) in enumerate(zip(header, row)):
        v = cell(value, label)
        if isinstance(v, datetime.datetime):
            sheet.write(r, c, v, date_style)
        elif isinstance(v, datetime.time):
            sheet.write(r, c, v, time_style)
        else:
            sheet.write(r, c, v)
sheet.write(len(rows) + 1, 0, disclaimer)
book.save(f"{out_dir}/eCO2mix_RTE_En-cours-TR_biff.xls")

workbook = openpyxl.Workbook()
ws = workbook.active
ws.append(header)
for row in rows:
    ws.append([cell(v, label) for label, v in zip(header, row)])
    ws.cell(ws.max_row, 3).number_format = "yyyy-mm-dd"
    ws.cell(ws.max_row, 4).number_format = "hh:mm"
ws.append([disclaimer])
workbook.save(f"{out_dir}/eCO2mix_RTE_En-cours-TR.xlsx")
