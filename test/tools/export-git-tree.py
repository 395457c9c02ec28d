import subprocess, sys, os
repo, rev, dest = sys.argv[1], sys.argv[2], sys.argv[3]
paths = sys.argv[4:]
ls = subprocess.run(["git","-C",repo,"ls-tree","-r","-z",rev,"--",*paths],capture_output=True,check=True).stdout.split(b"\0")
entries=[]
for e in ls:
    if not e: continue
    meta, path = e.split(b"\t",1)
    mode, typ, sha = meta.split()
    if typ != b"blob": continue
    entries.append((mode, sha, path.decode()))
p = subprocess.Popen(["git","-C",repo,"cat-file","--batch"],stdin=subprocess.PIPE,stdout=subprocess.PIPE)
missing=0
for mode, sha, path in entries:
    p.stdin.write(sha+b"\n"); p.stdin.flush()
    header = p.stdout.readline().split()
    if header[1] == b"missing":
        missing+=1; continue
    size=int(header[2]); data=p.stdout.read(size); p.stdout.read(1)
    full=os.path.join(dest,path); os.makedirs(os.path.dirname(full),exist_ok=True)
    if mode == b"120000":
        os.symlink(data.decode(), full)
    else:
        with open(full,"wb") as f: f.write(data)
        if mode == b"100755": os.chmod(full,0o755)
print(f"exported {len(entries)-missing} files, {missing} missing", file=sys.stderr)
