#!/usr/bin/env python3
"""What the GPU kernels of an r2q module become in SASS, without a GPU.

Runs r2q-opt's GPU pipeline (PTX, cubin-format=isa) on an .mlir file, then for
every kernel: ptxas -v (registers, spills, shared memory) and nvdisasm (the
SASS), and prints each loop of the SASS (a label that a later branch jumps back
to) with its instruction count and most frequent opcodes. This is how
docs/gpu.md counts instructions per weight: divide a loop's count by the
weights one pass of it covers.

ptxas comes with the CUDA toolkit (/usr/local/cuda/bin); nvdisasm does not
come with it on the development machines, but NVIDIA publishes it on PyPI:

    pip download --no-deps nvidia-cuda-nvdisasm -d /tmp/w
    python3 -m zipfile -e /tmp/w/nvidia_cuda_nvdisasm-*.whl /tmp/w/x
    chmod +x /tmp/w/x/nvidia/cu13/bin/nvdisasm

    scripts/kernel-sass.py layer.mlir --nvdisasm /tmp/w/x/nvidia/cu13/bin/nvdisasm

A development tool: nothing in the build or the tests runs it.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

BINARY = re.compile(
    r'gpu\.binary @(\w+)\s+\[#gpu\.object<.*?assembly = "((?:[^"\\]|\\.)*)"')
INSTRUCTION = re.compile(
    r'^\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P[0-9T]\s+)?([A-Z][A-Z0-9]*)')
LABEL = re.compile(r'^(\.L_x_\d+):')
BACK_BRANCH = re.compile(r'BRA `\((\.L_x_\d+)\)')


def ptx_of(assembly):
    """The PTX text of a gpu.binary's escaped assembly string."""
    text = re.sub(r'\\([0-9A-Fa-f]{2})',
                  lambda m: chr(int(m.group(1), 16)), assembly)
    return text.replace('\\\\', '\\').replace('\\"', '"').rstrip('\0')


def loops(sass):
    """(label, lines) of each loop: from a label to the last branch back to
    it."""
    lines = sass.splitlines()
    starts = {}
    for number, line in enumerate(lines):
        if match := LABEL.match(line):
            starts[match.group(1)] = number
    found = {}
    for number, line in enumerate(lines):
        match = BACK_BRANCH.search(line)
        if match and match.group(1) in starts and \
                starts[match.group(1)] < number:
            found[match.group(1)] = (starts[match.group(1)], number)
    return [(label, lines[start:end + 1])
            for label, (start, end) in found.items()]


def histogram(lines):
    counts = collections.Counter()
    for line in lines:
        if match := INSTRUCTION.match(line):
            counts[match.group(1)] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('input', help='an .mlir file for r2q-gpu-pipeline')
    parser.add_argument('--r2q-opt', default='build/bin/r2q-opt')
    parser.add_argument('--chip', default='sm_90a')
    parser.add_argument('--pipeline-options', default='',
                        help='more r2q-gpu-pipeline options')
    parser.add_argument('--ptxas', default=shutil.which('ptxas') or
                        '/usr/local/cuda/bin/ptxas')
    parser.add_argument('--nvdisasm', default=shutil.which('nvdisasm'))
    parser.add_argument('--top', type=int, default=8,
                        help='opcodes shown per loop')
    args = parser.parse_args()
    if not args.nvdisasm or not os.path.exists(args.nvdisasm):
        sys.exit('kernel-sass: no nvdisasm (--nvdisasm; see the docstring)')
    options = f'cubin-format=isa chip={args.chip} {args.pipeline_options}'
    lowered = subprocess.run(
        [args.r2q_opt, args.input, f'--r2q-gpu-pipeline={options}'],
        check=True, capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as work:
        for name, assembly in BINARY.findall(lowered):
            ptx = os.path.join(work, name + '.ptx')
            cubin = os.path.join(work, name + '.cubin')
            with open(ptx, 'w') as out:
                out.write(ptx_of(assembly))
            info = subprocess.run(
                [args.ptxas, '-v', f'-arch={args.chip}', ptx, '-o', cubin],
                check=True, capture_output=True, text=True).stderr
            usage = ' '.join(re.findall(
                r'Used \d+ registers.*|\d+ bytes spill stores|'
                r'\d+ bytes spill loads', info))
            sass = subprocess.run([args.nvdisasm, '-c', cubin], check=True,
                                  capture_output=True, text=True).stdout
            whole = histogram(sass.splitlines())
            print(f'{name}: {usage}; {len(whole)} opcodes, '
                  f'{sum(whole.values())} instructions')
            for label, body in loops(sass):
                counts = histogram(body)
                if sum(counts.values()) < 2:
                    continue  # the branch to itself after the exit
                common = ', '.join(f'{op} {n}'
                                   for op, n in counts.most_common(args.top))
                print(f'  loop {label}: {sum(counts.values())} instructions '
                      f'({common})')


if __name__ == '__main__':
    main()
