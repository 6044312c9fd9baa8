using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using SpecCore.Kernels.Sampling;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Ilgpu;

/// <summary>Settings of an <see cref="IlgpuBackend"/>.</summary>
public sealed record IlgpuOptions
{
    /// <summary>Keys one attention group scores before the work is split over the sequence
    /// (flash-decoding): a row whose visible keys exceed this runs as several chunks plus a combine pass.</summary>
    public int AttentionChunk { get; init; } = 256;

    /// <summary>Threads per warp of the "ilgpu-cpu" accelerator (ignored on GPUs). At least 2; 4 covers
    /// multi-step shuffle reductions, 2 runs fastest.</summary>
    public int CpuWarpSize { get; init; } = 4;

    /// <summary>Warps per group of the "ilgpu-cpu" accelerator (ignored on GPUs).</summary>
    public int CpuWarpsPerGroup { get; init; } = 4;
}

/// <summary>
/// The GPU backend: every operation of the forward pass as ILGPU kernels on CUDA, OpenCL (2.0 with generic
/// address space) or ILGPU's CPU accelerator (for tests). Weights are uploaded once in their stored dtype
/// (F32, F16, BF16); activations and the KV cache live on the device; kernels are compiled once when the
/// backend is created. Calls are queued on one stream; <see cref="Read"/>, <see cref="ArgMax"/> and <see cref="SampleTokens"/> wait.
/// JIT builds only: ILGPU emits code at run time, so it cannot run under NativeAOT.
/// </summary>
public sealed class IlgpuBackend : IBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStream _stream;
    private readonly int _warp;
    private readonly int _gemvGroup;   // threads per group of the one-token matmul
    private readonly int _tiledGroup;  // threads per group of the batched matmul
    private readonly int _rowGroup;    // threads per group of per-row kernels (norm, argmax, attention)
    private readonly int _sampleGroup; // threads per group of the sampling kernel (one group per row)
    private readonly int _attentionChunk;

    private readonly WeightKernels<F32Weights> _f32;
    private readonly WeightKernels<F16Weights> _f16;
    private readonly WeightKernels<BF16Weights> _bf16;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _rmsNorm;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int> _rope;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _swiGlu;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _add;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int> _addBias;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int> _argMax;
    private readonly Action<KernelConfig, SampleArgs> _sampleTokens;
    private readonly Action<KernelConfig, AttentionArgs> _attention;
    private readonly Action<KernelConfig, AttentionArgs> _attentionCombine;

    // Small per-call inputs, uploaded into buffers that only grow (no device allocation in steady state).
    private readonly DeviceInts _tokens;
    private readonly DeviceInts _positions;
    private readonly DeviceInts _ancestors;
    private readonly DeviceInts _ancestorStart;
    private readonly DeviceInts _argMaxResult;
    private MemoryBuffer1D<float, Stride1D.Dense> _uniforms; // [≥ rows] uniforms of SampleTokens
    private MemoryBuffer1D<float, Stride1D.Dense> _partials; // attention split: max, sum and acc per chunk
    private int[] _ancestorHost = new int[64];
    private int[] _ancestorStartHost = new int[65];

    /// <summary>Creates a backend on <paramref name="device"/>, taking ownership of <paramref name="context"/>.</summary>
    internal IlgpuBackend(Context context, Device device, string name, IlgpuOptions? options = null)
    {
        options ??= new IlgpuOptions();
        if (options.AttentionChunk < 1 || options.AttentionChunk > DeviceKernels.MaxChunk)
            throw new ArgumentOutOfRangeException(nameof(options), $"attention chunk must be 1..{DeviceKernels.MaxChunk}");
        _context = context;
        Name = name;
        // The CPU accelerator runs simulated threads in parallel (its sequential mode is far slower here).
        _accelerator = device is CPUDevice cpu
            ? cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel)
            : device.CreateAccelerator(context);
        try
        {
            _stream = _accelerator.DefaultStream;
            _warp = _accelerator.WarpSize;
            _attentionChunk = options.AttentionChunk;
            int maxThreads = Math.Min(_accelerator.MaxNumThreadsPerGroup, DeviceKernels.MaxGroupSize);
            if (maxThreads < _warp || maxThreads / _warp > DeviceKernels.MaxWarps)
                throw new NotSupportedException($"{device.Name}: groups of {maxThreads} threads with warps of {_warp} are not supported");
            _gemvGroup = GroupOf(4 * _warp, maxThreads);
            _tiledGroup = GroupOf(64, maxThreads);
            _rowGroup = GroupOf(128, maxThreads);
            _sampleGroup = GroupOf(256, maxThreads);

            _f32 = new WeightKernels<F32Weights>(_accelerator);
            _f16 = new WeightKernels<F16Weights>(_accelerator);
            _bf16 = new WeightKernels<BF16Weights>(_accelerator);
            _rmsNorm = _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(DeviceKernels.RmsNorm);
            _rope = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(DeviceKernels.Rope);
            _swiGlu = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(DeviceKernels.SwiGlu);
            _add = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(DeviceKernels.Add);
            _addBias = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(DeviceKernels.AddBias);
            _argMax = _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int>(DeviceKernels.ArgMax);
            _sampleTokens = _accelerator.LoadStreamKernel<SampleArgs>(DeviceKernels.SampleTokens);
            _attention = _accelerator.LoadStreamKernel<AttentionArgs>(DeviceKernels.Attention);
            _attentionCombine = _accelerator.LoadStreamKernel<AttentionArgs>(DeviceKernels.AttentionCombine);

            _tokens = new DeviceInts(_accelerator, 64);
            _positions = new DeviceInts(_accelerator, 64);
            _ancestors = new DeviceInts(_accelerator, 64 * 65 / 2);
            _ancestorStart = new DeviceInts(_accelerator, 65);
            _argMaxResult = new DeviceInts(_accelerator, 64);
            _uniforms = _accelerator.Allocate1D<float>(64);
            _partials = _accelerator.Allocate1D<float>(1);
            Description = DescribeAccelerator();
        }
        catch
        {
            _accelerator.Dispose();
            throw;
        }
    }

    /// <summary>Creates a backend on the first usable device of a kind: "cuda", "opencl" or "ilgpu-cpu".
    /// Throws <see cref="InvalidOperationException"/> naming the reason when no such device is usable.</summary>
    public static IlgpuBackend Create(string device, IlgpuOptions? options = null)
    {
        options ??= new IlgpuOptions();
        string kind = device.ToLowerInvariant();
        (AcceleratorType type, Action<Context.Builder> configure) = kind switch
        {
            "cuda" => (AcceleratorType.Cuda, b => b.Cuda()),
            "opencl" => (AcceleratorType.OpenCL, b => b.OpenCL(_ => true)),
            "ilgpu-cpu" => (AcceleratorType.CPU, (Action<Context.Builder>)(b => b.CPU(IlgpuDevices.CpuDevice(options.CpuWarpSize, options.CpuWarpsPerGroup)))),
            _ => throw new ArgumentException($"unknown ILGPU device '{device}' (expected cuda, opencl or ilgpu-cpu)", nameof(device)),
        };
        Context context;
        try
        {
            context = Context.Create(b => configure(b.EnableAlgorithms().Optimize(OptimizationLevel.O2)));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{kind}: the ILGPU runtime could not start ({e.GetType().Name}: {e.Message})", e);
        }
        try
        {
            var reasons = new List<string>();
            foreach (Device d in context)
            {
                if (d.AcceleratorType != type) continue; // a context always carries a CPU device too
                IlgpuDeviceInfo info = IlgpuDevices.Describe(kind, d);
                if (!info.Usable)
                {
                    reasons.Add($"{info.Name}: {info.Reason}");
                    continue;
                }
                try
                {
                    return new IlgpuBackend(context, d, kind, options);
                }
                catch (Exception e) when (e is not (OutOfMemoryException or ArgumentException))
                {
                    reasons.Add($"{info.Name}: could not start ({e.GetType().Name}: {e.Message})");
                }
            }
            string why = reasons.Count == 0 ? $"no {kind} device was found (driver missing or no such hardware)" : string.Join("; ", reasons);
            throw new InvalidOperationException($"{kind}: no usable device. {why}");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private int GroupOf(int wanted, int maxThreads) => Math.Max(_warp, Math.Min(wanted, maxThreads) / _warp * _warp);

    private string DescribeAccelerator()
    {
        string extra = _accelerator.Device switch
        {
            CudaDevice c => c.Architecture is { } a ? $", sm_{a.Major}{a.Minor}" : "",
            CLDevice cl => $", OpenCL {cl.DeviceVersion}",
            _ => "",
        };
        string memory = _accelerator.AcceleratorType == AcceleratorType.CPU ? "host memory" : $"{_accelerator.MemorySize / (1024.0 * 1024 * 1024):F1} GiB";
        return $"{Name}: {_accelerator.Name}, {memory}, warp {_warp}{extra}, " +
               $"groups {_gemvGroup}/{_tiledGroup}/{_rowGroup}, attention chunk {_attentionChunk}";
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Threads per warp of the device.</summary>
    public int WarpSize => _warp;

    // ---------------------------------------------------------------- memory

    /// <inheritdoc />
    /// <remarks>Not yet: the ILGPU copy and attention kernels read and write F32 caches only.</remarks>
    public bool SupportsF16KvCache => false;

    /// <inheritdoc />
    public unsafe DeviceTensor UploadWeight(HostTensor weight)
    {
        long n = weight.ElementCount;
        int[] shape = (int[])weight.Shape.Clone();
        switch (weight.DType)
        {
            case DType.F32:
            {
                var buffer = _accelerator.Allocate1D<float>(n);
                for (long off = 0; off < n; off += 1 << 28)
                {
                    int len = (int)Math.Min(1 << 28, n - off);
                    buffer.View.SubView(off, len).CopyFromCPU(_stream, new ReadOnlySpan<float>((float*)weight.Pointer + off, len));
                }
                return new IlgpuTensor(DType.F32, shape, buffer);
            }
            case DType.F16:
            case DType.BF16:
            {
                var buffer = _accelerator.Allocate1D<ushort>(n);
                for (long off = 0; off < n; off += 1 << 28)
                {
                    int len = (int)Math.Min(1 << 28, n - off);
                    buffer.View.SubView(off, len).CopyFromCPU(_stream, new ReadOnlySpan<ushort>((ushort*)weight.Pointer + off, len));
                }
                return new IlgpuTensor(weight.DType, shape, buffer);
            }
            default:
                throw NotSupported(weight.DType, $"weight '{weight.Name}'");
        }
    }

    private static NotSupportedException NotSupported(DType dtype, string what) => new(
        $"the ilgpu backend does not support {dtype.Name()} ({what}); convert the model to f32, f16 or bf16, or run {dtype.Name()} on the cpu backend");

    /// <inheritdoc />
    public DeviceTensor Allocate(DType dtype, params int[] shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        switch (dtype)
        {
            case DType.F32:
            {
                var buffer = _accelerator.Allocate1D<float>(n);
                buffer.MemSetToZero(_stream);
                return new IlgpuTensor(dtype, (int[])shape.Clone(), buffer);
            }
            case DType.F16:
            case DType.BF16:
            {
                var buffer = _accelerator.Allocate1D<ushort>(n);
                buffer.MemSetToZero(_stream);
                return new IlgpuTensor(dtype, (int[])shape.Clone(), buffer);
            }
            default:
                throw NotSupported(dtype, "tensor allocation");
        }
    }

    /// <inheritdoc />
    public void Write(DeviceTensor destination, ReadOnlySpan<float> source, long offset = 0)
    {
        var t = F32(destination, nameof(destination));
        if (offset < 0 || offset + source.Length > t.ElementCount) throw new ArgumentOutOfRangeException(nameof(offset));
        if (source.Length == 0) return;
        t.F32.SubView(offset, source.Length).CopyFromCPU(_stream, source);
    }

    /// <inheritdoc />
    public void Read(DeviceTensor source, Span<float> destination, long offset = 0)
    {
        var t = F32(source, nameof(source));
        if (offset < 0 || offset + destination.Length > t.ElementCount) throw new ArgumentOutOfRangeException(nameof(offset));
        _stream.Synchronize();
        if (destination.Length == 0) return;
        t.F32.SubView(offset, destination.Length).CopyToCPU(_stream, destination);
        _stream.Synchronize();
    }

    /// <summary>Waits until every queued kernel and copy has finished.</summary>
    public void Synchronize() => _stream.Synchronize();

    // ---------------------------------------------------------------- kernels

    /// <inheritdoc />
    public void Embed(DeviceTensor table, ReadOnlySpan<int> tokens, DeviceTensor output)
    {
        var t = Cast(table);
        var o = F32(output, nameof(output));
        int dim = t.Cols;
        if (o.Cols != dim || tokens.Length > o.Rows) throw new ArgumentException("Embed: output must be [≥ tokens, dim]");
        foreach (int id in tokens)
            if ((uint)id >= (uint)t.Rows) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {id} is outside the vocabulary (0..{t.Rows - 1})");
        if (tokens.Length == 0) return;
        ArrayView<int> ids = _tokens.Upload(tokens);
        Index1D n = tokens.Length * dim;
        ArrayView<float> dst = o.F32.SubView(0, (long)tokens.Length * dim);
        switch (t.DType)
        {
            case DType.F32: _f32.Embed(n, new F32Weights(t.F32), ids, dst, dim); break;
            case DType.F16: _f16.Embed(n, new F16Weights(t.U16), ids, dst, dim); break;
            case DType.BF16: _bf16.Embed(n, new BF16Weights(t.U16), ids, dst, dim); break;
            default: throw NotSupported(t.DType, "embedding lookup");
        }
    }

    /// <inheritdoc />
    public void RmsNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor output, int rows, float eps)
    {
        var xt = F32(x, nameof(x));
        var wt = F32(weight, nameof(weight));
        var ot = F32(output, nameof(output));
        int dim = xt.Cols;
        if (wt.ElementCount != dim || ot.Cols != dim) throw new ArgumentException($"RmsNorm: weight and output must have {dim} columns");
        CheckRows(rows, xt, ot);
        if (rows == 0) return;
        _rmsNorm(new KernelConfig(rows, _rowGroup), xt.F32, wt.F32, ot.F32, dim, eps);
    }

    /// <inheritdoc />
    public void HeadRmsNorm(DeviceTensor x, DeviceTensor weight, int rows, int heads, float eps)
    {
        var xt = F32(x, nameof(x));
        var wt = F32(weight, nameof(weight));
        int headDim = (int)wt.ElementCount;
        if (heads * headDim != xt.Cols) throw new ArgumentException($"HeadRmsNorm: {heads} heads of {headDim} do not fill the {xt.Cols} columns of x");
        if (rows < 0 || rows > xt.Rows) throw new ArgumentOutOfRangeException(nameof(rows));
        if (rows == 0) return;
        // Each head of each row is one row of the RMSNorm kernel, normalised in place.
        _rmsNorm(new KernelConfig(rows * heads, _rowGroup), xt.F32, wt.F32, xt.F32, headDim, eps);
    }

    /// <inheritdoc />
    public void AddBias(DeviceTensor x, DeviceTensor bias, int rows)
    {
        var xt = F32(x, nameof(x));
        var bt = F32(bias, nameof(bias));
        if (bt.ElementCount != xt.Cols) throw new ArgumentException($"AddBias: bias has {bt.ElementCount} values, x has {xt.Cols} columns");
        if (rows < 0 || rows > xt.Rows) throw new ArgumentOutOfRangeException(nameof(rows));
        if (rows == 0) return;
        _addBias(rows * xt.Cols, xt.F32, bt.F32, xt.Cols);
    }

    /// <inheritdoc />
    public void MatMul(DeviceTensor x, DeviceTensor weight, DeviceTensor output, int rows)
    {
        var xt = F32(x, nameof(x));
        var w = Cast(weight);
        var ot = F32(output, nameof(output));
        int inDim = w.Cols;
        int outDim = w.Rows;
        if (xt.Cols != inDim) throw new ArgumentException($"MatMul: x has {xt.Cols} columns, weight expects {inDim}");
        if (ot.Cols != outDim) throw new ArgumentException($"MatMul: output has {ot.Cols} columns, weight gives {outDim}");
        CheckRows(rows, xt, ot);
        switch (w.DType)
        {
            case DType.F32: RunMatMul(_f32, new F32Weights(w.F32), xt, ot, rows, inDim, outDim); break;
            case DType.F16: RunMatMul(_f16, new F16Weights(w.U16), xt, ot, rows, inDim, outDim); break;
            case DType.BF16: RunMatMul(_bf16, new BF16Weights(w.U16), xt, ot, rows, inDim, outDim); break;
            default: throw NotSupported(w.DType, "matmul");
        }
    }

    /// <inheritdoc />
    /// <remarks>One launch per matrix: launches are queued on the stream without waiting, so fusing them would save
    /// little here.</remarks>
    public void MatMulGroup(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> outputs, int rows)
    {
        if (weights.Length != outputs.Length) throw new ArgumentException($"matmul group: {weights.Length} weights but {outputs.Length} outputs");
        for (int i = 0; i < weights.Length; i++) MatMul(x, weights[i], outputs[i], rows);
    }

    private void RunMatMul<TW>(WeightKernels<TW> k, TW w, IlgpuTensor x, IlgpuTensor y, int rows, int inDim, int outDim)
        where TW : struct, IWeightView
    {
        if (rows == 1)
        {
            int warpsPerGroup = _gemvGroup / _warp;
            int groups = (outDim + warpsPerGroup - 1) / warpsPerGroup;
            k.MatVec(new KernelConfig(groups, _gemvGroup), w, x.F32.SubView(0, inDim), y.F32.SubView(0, outDim), inDim, outDim);
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += DeviceKernels.MaxTileRows)
        {
            int n = Math.Min(DeviceKernels.MaxTileRows, rows - r0);
            int quads = 1;
            while (quads * 4 < n) quads <<= 1;
            int group = Math.Max(_tiledGroup, quads);
            int features = group / quads;
            int groups = (outDim + features - 1) / features;
            k.Tiled(new KernelConfig(groups, group), w,
                x.F32.SubView((long)r0 * inDim, (long)n * inDim), y.F32.SubView((long)r0 * outDim, (long)n * outDim),
                n, inDim, outDim, quads);
        }
    }

    /// <inheritdoc />
    public RopeTable CreateRopeTable(ReadOnlySpan<double> inverseFrequencies, int maxPositions) =>
        new IlgpuRopeTable(_accelerator, inverseFrequencies, maxPositions);

    /// <inheritdoc />
    public void Rope(DeviceTensor x, int rows, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
    {
        var t = F32(x, nameof(x));
        var rope = table as IlgpuRopeTable ?? throw new ArgumentException("rope table belongs to another backend", nameof(table));
        int half = headDim / 2;
        if (half != rope.HalfDim) throw new ArgumentException($"rope table is for head_dim {rope.HalfDim * 2}, not {headDim}");
        if (t.Cols < heads * headDim) throw new ArgumentException("Rope: x is narrower than heads * headDim");
        if (positions.Length < rows) throw new ArgumentException("Rope: one position per row is needed", nameof(positions));
        for (int r = 0; r < rows; r++)
            if ((uint)positions[r] >= (uint)rope.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(positions), $"position {positions[r]} is beyond the rope table ({rope.MaxPositions})");
        if (rows == 0) return;
        ArrayView<int> pos = _positions.Upload(positions[..rows]);
        _rope(rows * heads * half, t.F32, pos, rope.Cos, rope.Sin, heads, headDim);
    }

    /// <inheritdoc />
    public void CopyRows(DeviceTensor source, int sourceRow, DeviceTensor destination, int destinationRow, int rows)
    {
        var s = F32(source, nameof(source));
        var d = F32(destination, nameof(destination));
        if (s.Cols != d.Cols) throw new ArgumentException("CopyRows: column counts differ");
        if (sourceRow < 0 || destinationRow < 0 || sourceRow + rows > s.Rows || destinationRow + rows > d.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), "CopyRows: past the end of a tensor");
        if (rows == 0) return;
        long n = (long)rows * s.Cols;
        s.F32.SubView((long)sourceRow * s.Cols, n).CopyTo(_stream, d.F32.SubView((long)destinationRow * d.Cols, n));
    }

    /// <inheritdoc />
    public void GatherRows(DeviceTensor tensor, ReadOnlySpan<int> sourceRows, int destinationRow)
    {
        var t = F32(tensor, nameof(tensor));
        int cols = t.Cols;
        for (int i = 0; i < sourceRows.Length; i++)
        {
            int src = sourceRows[i];
            int dst = destinationRow + i;
            if (src < dst) throw new ArgumentException("GatherRows: source rows must be ascending and not before their destination");
            if (src >= t.Rows) throw new ArgumentOutOfRangeException(nameof(sourceRows), $"row {src} is beyond the tensor ({t.Rows} rows)");
            // Copies run in stream order, so a row is moved before a later copy could overwrite it.
            if (src != dst) t.F32.SubView((long)src * cols, cols).CopyTo(_stream, t.F32.SubView((long)dst * cols, cols));
        }
    }

    /// <inheritdoc />
    public void Attention(DeviceTensor q, DeviceTensor keyCache, DeviceTensor valueCache, DeviceTensor output,
        int heads, int kvHeads, int headDim, AttentionBatch batch)
    {
        var qt = F32(q, nameof(q));
        var kt = F32(keyCache, nameof(keyCache));
        var vt = F32(valueCache, nameof(valueCache));
        var ot = F32(output, nameof(output));
        int rows = batch.Count;
        if (heads % kvHeads != 0) throw new ArgumentException($"{heads} heads are not a multiple of {kvHeads} KV heads");
        if (headDim > DeviceKernels.MaxHeadDim) throw new NotSupportedException($"head_dim {headDim} exceeds the ilgpu attention kernel's limit {DeviceKernels.MaxHeadDim}");
        if (batch.PrefixLength + rows > kt.Rows) throw new ArgumentException($"attention: {batch.PrefixLength} + {rows} tokens exceed the cache capacity {kt.Rows}");
        if (kt.Cols != kvHeads * headDim || vt.Cols != kvHeads * headDim) throw new ArgumentException("attention: cache width is not kvHeads * headDim");
        if (qt.Cols < heads * headDim || ot.Cols < heads * headDim || rows > qt.Rows || rows > ot.Rows) throw new ArgumentException("attention: q/output too small");
        if (rows == 0) return;

        // Each row's own keys: its ancestors and itself, root first (tree region rows; slot = shared + row).
        int total = 0;
        if (_ancestorStartHost.Length < rows + 1) _ancestorStartHost = new int[rows + 1];
        int maxOwn = 0;
        ReadOnlySpan<int> parents = batch.Parents;
        for (int r = 0; r < parents.Length; r++)
            if (parents[r] >= r || parents[r] < -1) throw new ArgumentException($"attention: parent {parents[r]} of tree row {r} must be -1 or an earlier row");
        int cachedTree = batch.CachedTreeRows;
        for (int i = 0; i < rows; i++)
        {
            int depth = 0;
            for (int j = cachedTree + i; j >= 0; j = parents[j]) depth++;
            if (_ancestorHost.Length < total + depth) Array.Resize(ref _ancestorHost, Math.Max(2 * _ancestorHost.Length, total + depth));
            _ancestorStartHost[i] = total;
            int k = total + depth;
            for (int j = cachedTree + i; j >= 0; j = parents[j]) _ancestorHost[--k] = j;
            total += depth;
            maxOwn = Math.Max(maxOwn, depth);
        }
        _ancestorStartHost[rows] = total;

        int chunk = _attentionChunk;
        int maxVisible = batch.SharedLength + maxOwn;
        if (batch.Window > 0) maxVisible = Math.Min(maxVisible, batch.Window);
        int chunks = (maxVisible + chunk - 1) / chunk;
        var args = new AttentionArgs
        {
            Q = qt.F32,
            Keys = kt.F32,
            Values = vt.F32,
            Output = ot.F32,
            Ancestors = _ancestors.Upload(_ancestorHost.AsSpan(0, total)),
            AncestorStart = _ancestorStart.Upload(_ancestorStartHost.AsSpan(0, rows + 1)),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            Prefix = batch.SharedLength,
            Window = batch.Window,
            Chunk = chunk,
            Chunks = chunks,
            Scale = 1f / MathF.Sqrt(headDim),
        };
        if (chunks > 1)
        {
            long perHead = (long)rows * heads * chunks;
            long need = perHead * (2 + headDim);
            if (_partials.Length < need)
            {
                _partials.Dispose();
                _partials = _accelerator.Allocate1D<float>(need);
            }
            args.PartialMax = _partials.View.SubView(0, perHead);
            args.PartialSum = _partials.View.SubView(perHead, perHead);
            args.PartialAcc = _partials.View.SubView(2 * perHead, perHead * headDim);
        }
        else
        {
            args.PartialMax = args.PartialSum = args.PartialAcc = _partials.View;
        }
        _attention(new KernelConfig(new Index3D(chunks, heads, rows), new Index3D(_rowGroup, 1, 1)), args);
        if (chunks > 1)
            _attentionCombine(new KernelConfig(new Index2D(heads, rows), new Index2D(Math.Min(_rowGroup, RoundUp(headDim, _warp)), 1)), args);
    }

    private static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;

    /// <inheritdoc />
    public void SwiGlu(DeviceTensor gate, DeviceTensor up, int rows)
    {
        var g = F32(gate, nameof(gate));
        var u = F32(up, nameof(up));
        if (g.Cols != u.Cols) throw new ArgumentException("SwiGlu: gate and up differ in width");
        CheckRows(rows, g, u);
        if (rows == 0) return;
        _swiGlu(rows * g.Cols, g.F32, u.F32);
    }

    /// <inheritdoc />
    public void Add(DeviceTensor x, DeviceTensor y, int rows)
    {
        var xt = F32(x, nameof(x));
        var yt = F32(y, nameof(y));
        if (xt.Cols != yt.Cols) throw new ArgumentException("Add: x and y differ in width");
        CheckRows(rows, xt, yt);
        if (rows == 0) return;
        _add(rows * xt.Cols, xt.F32, yt.F32);
    }

    /// <inheritdoc />
    public void ArgMax(DeviceTensor logits, int rows, Span<int> result)
    {
        var t = F32(logits, nameof(logits));
        if (rows > t.Rows || result.Length < rows) throw new ArgumentOutOfRangeException(nameof(rows));
        if (rows == 0) return;
        ArrayView<int> dst = _argMaxResult.Reserve(rows);
        _argMax(new KernelConfig(rows, _rowGroup), t.F32, dst, t.Cols);
        _stream.Synchronize();
        dst.CopyToCPU(_stream, result[..rows]);
        _stream.Synchronize();
        RefuseNonFiniteRows(result[..rows]);
    }

    /// <summary>The kernels return token -1 for a row holding a NaN or infinity: like the CPU sampler, refuse it.</summary>
    private static void RefuseNonFiniteRows(ReadOnlySpan<int> tokens)
    {
        if (tokens.Contains(-1)) throw new NonFiniteLogitsException();
    }

    /// <inheritdoc />
    public void SampleTokens(DeviceTensor logits, int rows, SamplingOptions options, ReadOnlySpan<float> uniforms, Span<int> result)
    {
        var t = F32(logits, nameof(logits));
        if (rows < 0 || rows > t.Rows || result.Length < rows) throw new ArgumentOutOfRangeException(nameof(rows));
        if (options.IsGreedy)
        {
            ArgMax(logits, rows, result);
            return;
        }
        options.Validate();
        if (uniforms.Length < rows) throw new ArgumentException($"{rows} rows need {rows} uniforms, got {uniforms.Length}", nameof(uniforms));
        if (rows == 0) return;
        if (_uniforms.Length < rows)
        {
            _uniforms.Dispose();
            _uniforms = _accelerator.Allocate1D<float>(Math.Max(rows, 2 * _uniforms.Length));
        }
        ArrayView<float> u = _uniforms.View.SubView(0, rows);
        u.CopyFromCPU(_stream, uniforms[..rows]);
        int vocab = t.Cols;
        ArrayView<int> dst = _argMaxResult.Reserve(rows);
        _sampleTokens(new KernelConfig(rows, _sampleGroup), new SampleArgs
        {
            Logits = t.F32,
            Uniforms = u,
            Result = dst,
            Vocab = vocab,
            InvTemperature = 1f / options.Temperature,
            TopK = options.TopK > 0 ? Math.Min(options.TopK, vocab) : vocab,
            TopP = options.TopP,
        });
        _stream.Synchronize();
        dst.CopyToCPU(_stream, result[..rows]);
        _stream.Synchronize();
        RefuseNonFiniteRows(result[..rows]);
    }

    // ---------------------------------------------------------------- helpers

    private static void CheckRows(int rows, IlgpuTensor a, IlgpuTensor b)
    {
        if (rows < 0 || rows > a.Rows || rows > b.Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows exceed a tensor");
    }

    private static IlgpuTensor Cast(DeviceTensor t) =>
        t as IlgpuTensor ?? throw new ArgumentException($"tensor belongs to another backend ({t.GetType().Name}), not the ilgpu backend");

    private static IlgpuTensor F32(DeviceTensor t, string name)
    {
        var x = Cast(t);
        if (x.DType != DType.F32) throw new ArgumentException($"{name} must be F32, not {x.DType}", name);
        return x;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _tokens.Dispose();
        _positions.Dispose();
        _ancestors.Dispose();
        _ancestorStart.Dispose();
        _argMaxResult.Dispose();
        _uniforms.Dispose();
        _partials.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }

    /// <summary>The dtype-specific kernels for one weight view type, compiled once.</summary>
    private sealed class WeightKernels<TW> where TW : struct, IWeightView
    {
        public readonly Action<KernelConfig, TW, ArrayView<float>, ArrayView<float>, int, int> MatVec;
        public readonly Action<KernelConfig, TW, ArrayView<float>, ArrayView<float>, int, int, int, int> Tiled;
        public readonly Action<Index1D, TW, ArrayView<int>, ArrayView<float>, int> Embed;

        public WeightKernels(Accelerator accelerator)
        {
            MatVec = accelerator.LoadStreamKernel<TW, ArrayView<float>, ArrayView<float>, int, int>(DeviceKernels.MatVec);
            Tiled = accelerator.LoadStreamKernel<TW, ArrayView<float>, ArrayView<float>, int, int, int, int>(DeviceKernels.MatMulTiled);
            Embed = accelerator.LoadAutoGroupedStreamKernel<Index1D, TW, ArrayView<int>, ArrayView<float>, int>(DeviceKernels.Embed);
        }
    }

    /// <summary>A device int buffer that grows on demand and skips uploads of unchanged contents (the same
    /// positions and tree serve every layer of a forward pass).</summary>
    private sealed class DeviceInts : IDisposable
    {
        private readonly Accelerator _accelerator;
        private MemoryBuffer1D<int, Stride1D.Dense> _buffer;
        private int[] _last;
        private int _lastLength = -1;

        public DeviceInts(Accelerator accelerator, int capacity)
        {
            _accelerator = accelerator;
            _buffer = accelerator.Allocate1D<int>(capacity);
            _last = new int[capacity];
        }

        public ArrayView<int> Reserve(int length)
        {
            if (_buffer.Length < length)
            {
                _buffer.Dispose();
                _buffer = _accelerator.Allocate1D<int>(Math.Max(length, 2 * _buffer.Length));
                _last = new int[_buffer.Length];
            }
            _lastLength = -1;
            return _buffer.View.SubView(0, Math.Max(length, 1));
        }

        public ArrayView<int> Upload(ReadOnlySpan<int> values)
        {
            if (_lastLength == values.Length && values.SequenceEqual(_last.AsSpan(0, values.Length)))
                return _buffer.View.SubView(0, Math.Max(values.Length, 1));
            ArrayView<int> view = Reserve(values.Length);
            if (values.Length > 0) view.SubView(0, values.Length).CopyFromCPU(_accelerator.DefaultStream, values);
            values.CopyTo(_last);
            _lastLength = values.Length;
            return view;
        }

        public void Dispose() => _buffer.Dispose();
    }
}
